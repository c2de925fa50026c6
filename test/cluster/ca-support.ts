/**
 * Support for the CA tests on real node processes: a node's certificate from its key file, an
 * mTLS client that keeps calling the cluster, and an async CLI run (spawnSync would stall it).
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ControlService } from '../../src/api/index.js';
import { parseNodeCertificate } from '../../src/ca/index.js';
import { errorMessage, systemClock } from '../../src/common/index.js';
import { clientCredentials, createClient, type RpcClient, serverNameOverride } from '../../src/rpc/index.js';
import { type CliResult, SWARMCTL, type TestNode } from '../harness/swarm-nodes.js';

export interface KeyFileView {
  certChainPem: string;
  secrets?: { tlsKeyPem: string };
}

export function keyFile(n: TestNode): KeyFileView {
  return JSON.parse(readFileSync(join(n.dir, 'certificates/swarm-node.key.json'), 'utf8')) as KeyFileView;
}

export function rootFile(n: TestNode): string {
  return readFileSync(join(n.dir, 'certificates/swarm-root-ca.crt'), 'utf8');
}

export function certOf(n: TestNode) {
  return parseNodeCertificate(keyFile(n).certChainPem);
}

/** The node's TLS material as a client would take it from disk (unsealed key files only). */
export function materialOf(n: TestNode): { ca: string; cert: string; key: string } {
  const k = keyFile(n);
  if (!k.secrets) throw new Error(`${n.name}: key file is sealed`);
  return { ca: rootFile(n), cert: k.certChainPem, key: k.secrets.tlsKeyPem };
}

export function ok(r: CliResult): string {
  if (r.status !== 0) throw new Error(`exit ${r.status}: ${r.stderr}`);
  return r.stdout;
}

export function runAsync(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(SWARMCTL, args, { encoding: 'utf8', timeout: 180_000, env }, (err, stdout, stderr) => {
      const status = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ status, stdout, stderr });
    });
  });
}

/**
 * Calls `Control.Info` over mTLS round-robin on `addrs`, with the material `material()` returns,
 * re-read before every call so a renewed certificate or a new root is picked up as a real client
 * would after it notices the file changed. Records every failure.
 */
export class CallLoop {
  ok = 0;
  readonly failures: string[] = [];
  private stopped = false;
  private done: Promise<void> | undefined;

  constructor(
    private readonly addrs: string[],
    private readonly material: () => { ca: string; cert: string; key: string },
    /** Pacing between calls, so the loop does not starve the nodes of the 2 shared cores. */
    private readonly pauseMs = 50,
  ) {}

  start(): void {
    this.done = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }

  private async run(): Promise<void> {
    let key = '';
    let clients: RpcClient<(typeof ControlService)['methods']>[] = [];
    let i = 0;
    try {
      while (!this.stopped) {
        let m: { ca: string; cert: string; key: string } | undefined;
        try {
          m = this.material();
        } catch {
          // A file between two reads: use the clients we have.
        }
        if (m && m.ca + m.cert + m.key !== key) {
          for (const c of clients) c.close();
          const creds = clientCredentials(m);
          clients = this.addrs.map((a) => createClient(ControlService, a, creds, serverNameOverride()));
          key = m.ca + m.cert + m.key;
        }
        const addr = i % this.addrs.length;
        i++;
        try {
          await clients[addr]!.call.Info({}, { timeoutMs: 5000 });
          this.ok++;
        } catch (e) {
          this.failures.push(`${this.addrs[addr]}: ${errorMessage(e)}`);
        }
        await new Promise<void>((resolve) => systemClock.setTimer(this.pauseMs, resolve));
      }
    } finally {
      for (const c of clients) c.close();
    }
  }
}
