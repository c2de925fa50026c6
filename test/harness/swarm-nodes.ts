/**
 * swarmctl nodes as real processes on loopback, each with its own state directory, control socket
 * and port, driven through the built single executable (dist/swarmctl) exactly as a user would.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '../..');
/** `SWARMCTL_DIST` points the tests at a binary built elsewhere (`SWARMCTL_DIST=… npm run build`). */
export const SWARMCTL = join(process.env.SWARMCTL_DIST ?? join(ROOT, 'dist'), 'swarmctl');

export function ensureBuilt(): void {
  if (!existsSync(SWARMCTL))
    execFileSync(process.execPath, [join(ROOT, 'scripts/build.mjs')], { stdio: 'ignore' });
}

export interface CliResult {
  status: number;
  stdout: string;
  stderr: string;
}

export interface TestNode {
  name: string;
  dir: string;
  socket: string;
  addr: string;
  /** Runs `swarmctl -H unix://<socket> …args`. */
  cli(...args: string[]): CliResult;
}

export class SwarmNodes {
  readonly root: string;
  readonly nodes: TestNode[] = [];

  constructor(
    private readonly basePort: number,
    prefix = 'swarm-nodes-',
  ) {
    ensureBuilt();
    this.root = mkdtempSync(join(tmpdir(), prefix));
  }

  node(i: number): TestNode {
    const existing = this.nodes[i];
    if (existing) return existing;
    const dir = join(this.root, `n${i}`);
    mkdirSync(dir, { recursive: true });
    const socket = join(dir, 'ctl.sock');
    const n: TestNode = {
      name: `n${i}`,
      dir,
      socket,
      addr: `127.0.0.1:${this.basePort + i}`,
      cli: (...args) => run(['-H', `unix://${socket}`, ...args]),
    };
    this.nodes[i] = n;
    return n;
  }

  /** Flags that place a node's state, socket and listener. */
  placement(n: TestNode): string[] {
    return [
      '--state-dir',
      n.dir,
      '--control-socket',
      n.socket,
      '--listen-addr',
      n.addr,
      '--advertise-addr',
      n.addr,
    ];
  }

  init(i: number, ...extra: string[]): CliResult {
    const n = this.node(i);
    return run(['init', ...this.placement(n), ...extra]);
  }

  join(i: number, token: string, via: TestNode, ...extra: string[]): CliResult {
    const n = this.node(i);
    return run(['join', '--token', token, ...this.placement(n), ...extra, via.addr]);
  }

  /** The node's pid from its control socket, or undefined when it does not answer. */
  pid(n: TestNode): number | undefined {
    const r = n.cli('info', '--format', 'json');
    if (r.status !== 0) return undefined;
    return (JSON.parse(r.stdout) as { node?: { pid: number } }).node?.pid;
  }

  /**
   * Stops every node process and removes all state. Processes are found by their command line
   * naming this harness's unique directory, so none leaks even when a control socket is gone.
   */
  teardown(): void {
    for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
      let cmdline = '';
      try {
        cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      } catch {
        continue;
      }
      if (!cmdline.includes(this.root) || Number(pid) === process.pid) continue;
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // already gone
      }
    }
    rmSync(this.root, { recursive: true, force: true });
  }
}

export function run(args: string[]): CliResult {
  const r = spawnSync(SWARMCTL, args, { encoding: 'utf8', timeout: 120_000 });
  return { status: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
}
