/**
 * A swarmctl cluster on lab hosts (docs/lab.md): each node runs in its host's network namespace
 * against the host's own engine, started and driven through the executable and its control socket
 * exactly as a user would. What the lab tests and the cluster benchmark share.
 */
import { waitFor } from '../../src/common/index.js';
import type { Lab } from './lab.js';
import { type CommandResult, type RunCommandOptions, runCommand } from './run-command.js';
import { SWARMCTL } from './swarm-nodes.js';

/** The lab process name of a host's node (teardown ends it with the host's other processes). */
export const NODE_PROC = 'swarmctl';
/** The port every lab node listens and advertises on. */
export const SWARM_PORT = 2377;
/** How long one CLI call may take unless told otherwise. */
const CLI_TIMEOUT_MS = 60_000;

export interface LabSwarmOptions {
  /** The executable. @default SWARMCTL (the built binary the tests run) */
  bin?: string;
  /** Flags every node starts with, after the host's own (e.g. `--data-plane userland`). */
  nodeFlags?: readonly string[];
}

export interface StartNodeOptions {
  /** Adds `--listen-addr`/`--advertise-addr` on the host's address. @default true */
  listen?: boolean;
  /** Adds `--foreground`, so the CLI stays the lab process. @default true */
  foreground?: boolean;
}

/** The parts of `info --format json` the tests read. */
export interface LabNodeInfo {
  nodeId: string;
  pid: number;
}

/** The parts of `node ls --format json` the tests read. */
export interface LabNodeJson {
  id: string;
  status: { state: string };
  spec: { availability: string };
  managerStatus?: { leader: boolean };
}

export class LabSwarm {
  readonly bin: string;
  private readonly extraFlags: readonly string[];

  constructor(
    readonly lab: Lab,
    options: LabSwarmOptions = {},
  ) {
    this.bin = options.bin ?? SWARMCTL;
    this.extraFlags = options.nodeFlags ?? [];
  }

  /** `host:2377` of lab host n: what a node listens on and what `join` takes. */
  addr(n: number): string {
    return `${this.lab.host(n).address}:${SWARM_PORT}`;
  }

  /** `-H unix://<socket>` of host n's node. */
  target(n: number): string[] {
    return ['-H', `unix://${this.lab.host(n).swarmctlSocket}`];
  }

  /** Runs the CLI against host n's node; throws on a non-zero exit unless `allowFailure`. */
  run(n: number, args: readonly string[], options: RunCommandOptions = {}): Promise<CommandResult> {
    return runCommand([this.bin, ...this.target(n), ...args], { timeoutMs: CLI_TIMEOUT_MS, ...options });
  }

  /** The CLI's stdout; throws when it fails. */
  async cli(n: number, ...args: string[]): Promise<string> {
    return (await this.run(n, args)).stdout;
  }

  /** State dir, control socket and engine of host n, and (unless `listen` is false) its addresses. */
  nodeFlags(n: number, listen = true): string[] {
    const h = this.lab.host(n);
    return [
      '--state-dir',
      h.swarmctlStateDir,
      '--control-socket',
      h.swarmctlSocket,
      '--docker-host',
      h.dockerHost,
      ...(listen ? ['--listen-addr', this.addr(n), '--advertise-addr', this.addr(n)] : []),
    ];
  }

  /** Starts `swarmctl <argv> <host n's flags>` inside host n, waits until it answers; its node ID. */
  async startNode(n: number, argv: readonly string[], options: StartNodeOptions = {}): Promise<string> {
    this.lab.startProcess(
      n,
      [
        this.bin,
        ...argv,
        ...this.nodeFlags(n, options.listen ?? true),
        ...this.extraFlags,
        ...(options.foreground === false ? [] : ['--foreground']),
      ],
      { name: NODE_PROC },
    );
    const info = await waitFor(
      async () => {
        const r = await this.run(n, ['info', '--format', 'json'], { allowFailure: true, timeoutMs: 10_000 });
        return r.code === 0 ? { done: true, value: r.stdout } : { done: false, state: r.stderr.trim() };
      },
      { timeoutMs: 60_000, intervalMs: 200, what: `the node on host ${n} to answer` },
    );
    return (JSON.parse(info) as { node: LabNodeInfo }).node.nodeId;
  }

  /** A one-node cluster on host n; its node ID. */
  init(n = 1): Promise<string> {
    return this.startNode(n, ['init']);
  }

  /** Joins host n through host `via` with a token of `role`; its node ID. */
  async join(n: number, role: 'manager' | 'worker', via = 1): Promise<string> {
    const token = (await this.cli(via, 'join-token', role, '-q')).trim();
    return this.startNode(n, ['join', '--token', token, this.addr(via)]);
  }

  /** Host n's node: its ID and the daemon's pid. */
  async info(n: number): Promise<LabNodeInfo> {
    return (JSON.parse(await this.cli(n, 'info', '--format', 'json')) as { node: LabNodeInfo }).node;
  }

  /** The nodes as host n's node lists them. */
  async nodes(n = 1): Promise<LabNodeJson[]> {
    return JSON.parse(await this.cli(n, 'node', 'ls', '--format', 'json')) as LabNodeJson[];
  }

  /** Waits until host `via`'s node lists `count` nodes ready. */
  async waitReady(count: number, what: string, via = 1, timeoutMs = 30_000): Promise<void> {
    await waitFor(
      async () => {
        const ready = (await this.nodes(via)).filter((x) => x.status.state === 'ready').length;
        return ready === count ? { done: true, value: 0 } : { done: false, state: `${ready} ready` };
      },
      { timeoutMs, intervalMs: 200, what },
    );
  }

  /** Waits until host n's node process has exited (after a kill of its daemon). */
  async waitExited(n: number, timeoutMs = 10_000): Promise<void> {
    await waitFor(
      async () =>
        (await this.lab.status())[n - 1]!.processes.find((p) => p.name === NODE_PROC)?.running
          ? { done: false, state: 'still running' }
          : { done: true, value: 0 },
      { timeoutMs, intervalMs: 100, what: `host ${n} swarmctl to exit` },
    );
  }

  /** IDs of the running containers (all with `all`) of `service` in host n's engine. */
  async serviceContainers(n: number, service: string, all = false): Promise<string[]> {
    const filter = `label=com.docker.swarm.service.name=${service}`;
    const r = await this.lab.dockerCli(n, ['ps', ...(all ? ['-a'] : []), '-q', '--filter', filter]);
    return r.stdout.trim().split('\n').filter(Boolean);
  }
}
