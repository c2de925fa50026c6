import { MembershipService } from '../api/index.js';
import type { NodeKeyFile, parseUnlockKey, RandomBytes } from '../ca/index.js';
import { type Clock, deferred, errorMessage, type Logger, type Random, SwarmError } from '../common/index.js';
import { type ClusterSeed, Manager } from '../manager/index.js';
import {
  type ChannelCredentials,
  createClient,
  type NodeServerCredentials,
  RpcServer,
  serverNameOverride,
} from '../rpc/index.js';
import type { DaemonConfig } from './config.js';
import { keyFileLock } from './identity.js';
import type { NodeRecord, StateDir } from './state-dir.js';

type UnlockKey = ReturnType<typeof parseUnlockKey>;

export interface ManagerRunnerDeps {
  clock: Clock;
  random: Random;
  randomBytes: RandomBytes;
  logger: Logger;
  dir: StateDir;
  config: DaemonConfig;
  /** Client credentials with the node's current certificate and trusted roots. */
  clientCredentials: () => ChannelCredentials;
  /** The inter-node listener's credentials (the daemon swaps certificates and roots in place). */
  serverCredentials: NodeServerCredentials;
  /** The unlock key the key file is sealed with now; the runner re-seals on autolock changes. */
  unlockKey: { get(): UnlockKey | undefined; set(key: UnlockKey | undefined): void };
}

export interface ManagerRunnerStart {
  record: NodeRecord;
  key: NodeKeyFile;
  /** A new cluster's founding manager. */
  seed?: ClusterSeed;
  /** Not yet a Raft member: ask a manager to add this one as a learner. */
  join?: { via: readonly string[] };
}

/**
 * The manager side of a node for as long as it is a manager: the Manager (Raft, store, leader
 * loops), its inter-node listener and the key file's re-sealing on autolock changes. Started at
 * boot on managers and on promotion; stopped on demotion (the node goes on as a worker) or with
 * the node. `done` settles once every part has ended; it rejects if a part failed on its own.
 */
export class ManagerRunner {
  readonly manager: Manager;
  private readonly stopController = new AbortController();
  private parts: Promise<unknown> = Promise.resolve();
  private readonly log: Logger;

  constructor(
    private readonly deps: ManagerRunnerDeps,
    private readonly start: ManagerRunnerStart,
  ) {
    const { record, key } = start;
    if (!key.secrets.dek)
      throw new SwarmError('CORRUPTION', `manager key file ${deps.dir.keyStore.path} has no data key`);
    this.log = deps.logger.child({ module: 'daemon/manager', 'node.id': record.nodeId });
    this.manager = new Manager(
      {
        clock: deps.clock,
        random: deps.random,
        randomBytes: deps.randomBytes,
        logger: deps.logger.child({ 'node.id': record.nodeId }),
        credentials: deps.clientCredentials,
        channelOptions: serverNameOverride(),
      },
      {
        nodeId: record.nodeId,
        clusterId: record.clusterId,
        raftDir: deps.dir.raftDir,
        dek: key.secrets.dek,
        ...(start.seed ? { seed: start.seed } : {}),
        ...(deps.config.caLimits ? { caLimits: deps.config.caLimits } : {}),
      },
    );
  }

  /**
   * Binds the listener and starts the manager; resolves once it serves (and, joining, once it is
   * a learner). Everything runs until `stop()` or `signal`.
   */
  async run(signal: AbortSignal): Promise<void> {
    const stop = AbortSignal.any([signal, this.stopController.signal]);
    const server = new RpcServer({ logger: this.log }, { shutdownGraceMs: 500 });
    this.manager.serve(server, { randomBytes: this.deps.randomBytes });
    await server.bind(this.start.record.listenAddr, this.deps.serverCredentials);
    this.parts = Promise.all([
      server.run(stop),
      this.manager.run(stop),
      this.followAutolock(this.start.key, stop),
    ]);
    try {
      if (this.start.join) await this.joinRaft(this.start.join.via, stop);
      if (this.start.seed) await this.waitForCluster(stop);
    } catch (e) {
      await this.stop();
      throw e;
    }
  }

  /** Settles once the listener, the manager and the re-sealer have ended. */
  get done(): Promise<unknown> {
    return this.parts;
  }

  /** Stops every part and waits for them; idempotent. */
  async stop(): Promise<void> {
    this.stopController.abort();
    await this.parts.catch(() => undefined);
  }

  private async joinRaft(via: readonly string[], signal: AbortSignal): Promise<void> {
    const { record } = this.start;
    let last: unknown;
    for (const addr of via) {
      if (addr === record.advertiseAddr) continue;
      const c = createClient(MembershipService, addr, this.deps.clientCredentials(), serverNameOverride());
      try {
        const { members } = await c.call.Join(
          { nodeId: record.nodeId, raftAddr: record.advertiseAddr },
          { signal, timeoutMs: 20_000 },
        );
        // Until our store has replicated the node list, these are the only peers we know.
        for (const m of members)
          if (m.nodeId !== record.nodeId) this.manager.transport.setPeer(m.nodeId, m.addr);
        return;
      } catch (e) {
        last = e;
      } finally {
        c.close();
      }
    }
    throw last ?? new SwarmError('UNAVAILABLE', 'no manager accepted this manager into Raft');
  }

  /** Resolves once the seeded cluster object is in the store (the founding manager wrote it). */
  private async waitForCluster(signal: AbortSignal): Promise<void> {
    const watch = this.manager.store.watch({ kinds: ['cluster'] }, signal);
    try {
      if (await this.manager.caState.load()) return;
      for await (const _ of watch) if (await this.manager.caState.load()) return;
      signal.throwIfAborted();
    } finally {
      watch.dispose();
    }
  }

  /** Re-seals the key file whenever the cluster's autolock setting or unlock key changes. */
  private async followAutolock(initial: NodeKeyFile, signal: AbortSignal): Promise<void> {
    const { manager } = this;
    let sealedWith = initial.kekVersion;
    let changed = deferred<void>();
    const sub = manager.caState.onDidChange(() => changed.resolve());
    const aborted = new Promise<void>((resolve) =>
      signal.addEventListener('abort', () => resolve(), { once: true }),
    );
    try {
      while (!signal.aborted) {
        try {
          const ca = await manager.caState.load();
          const want = ca?.autolock?.kekVersion ?? 0;
          if (want !== sealedWith) {
            const key = await this.deps.dir.keyStore.read(
              sealedWith > 0 ? this.deps.unlockKey.get() : undefined,
            );
            const lock = keyFileLock(ca);
            await this.deps.dir.keyStore.write(
              { certChainPem: key.certChainPem, secrets: key.secrets },
              lock,
            );
            this.deps.unlockKey.set(lock?.unlockKey);
            sealedWith = want;
          }
        } catch (e) {
          // Keep the old seal and try again at the next change; the node keeps running.
          this.log.error('could not re-seal the key file', { error: errorMessage(e) });
        }
        await Promise.race([changed.promise, aborted]);
        changed = deferred<void>();
      }
    } finally {
      sub.dispose();
    }
  }
}
