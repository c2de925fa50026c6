import { chmod, rm, stat } from 'node:fs/promises';
import {
  ControlService,
  type ControlServiceMethods,
  DaemonService,
  DispatcherService,
  MembershipService,
  type NodeId,
} from '../api/index.js';
import {
  CertRenewer,
  type NodeCredentials,
  type NodeKeyFile,
  parseNodeCertificate,
  parseUnlockKey,
  type RandomBytes,
  renewWithCertificate,
} from '../ca/index.js';
import {
  type Clock,
  type Component,
  deferred,
  errorMessage,
  FailedPreconditionError,
  type Logger,
  type Random,
  SwarmError,
} from '../common/index.js';
import { Manager } from '../manager/index.js';
import {
  type ChannelCredentials,
  clientCredentials,
  createClient,
  type Handlers,
  NodeServerCredentials,
  RpcServer,
  ServerCredentials,
  serverNameOverride,
} from '../rpc/index.js';
import { Agent, DockerExecutor } from '../worker/index.js';
import { type InitOptions, initIdentity, joinIdentity } from './bootstrap.js';
import { pollCertificateStatus } from './cert-status.js';
import type { DaemonConfig } from './config.js';
import { certificateStatusAtManagers, keyFileLock, renewAtManagers, tlsMaterial } from './identity.js';
import { type NodeRecord, StateDir } from './state-dir.js';

export type DaemonStart =
  | { kind: 'run' }
  | ({ kind: 'init' } & InitOptions)
  | { kind: 'join'; token: string; remote: string };

export interface DaemonDeps {
  clock: Clock;
  random: Random;
  randomBytes: RandomBytes;
  logger: Logger;
}

/**
 * One node process: its identity from the state directory (after init or join), the local control
 * socket, and for managers the Raft member, the inter-node listener and the control API. A
 * restarted autolocked manager serves only `Status` and `Unlock` until it is unlocked.
 */
export class Daemon implements Component {
  readonly name = 'daemon';
  private readonly dir: StateDir;
  private record: NodeRecord | undefined;
  private locked = false;
  private ready = false;
  private unlockWaiter = deferred<NodeKeyFile>();
  private manager: Manager | undefined;
  private readonly stop = new AbortController();
  private leaving: { force: boolean } | undefined;

  constructor(
    private readonly deps: DaemonDeps,
    private readonly config: DaemonConfig,
    private readonly start: DaemonStart,
  ) {
    this.dir = new StateDir(config.stateDir);
  }

  async run(signal: AbortSignal): Promise<void> {
    const log = this.deps.logger.child({ module: 'daemon' });
    const stop = AbortSignal.any([signal, this.stop.signal]);
    let seed: Awaited<ReturnType<typeof initIdentity>>['seed'] | undefined;
    let pendingRecord: NodeRecord | undefined;
    if (this.start.kind === 'init') {
      const r = await initIdentity(this.deps, this.config, this.dir, this.start);
      seed = r.seed;
      pendingRecord = r.record;
    } else if (this.start.kind === 'join') {
      const r = await joinIdentity(this.deps, this.config, this.dir, this.start, stop);
      await this.dir.writeNode(r.record);
    }
    this.record = pendingRecord ?? (await this.dir.readNode());
    if (!this.record)
      throw new FailedPreconditionError(`this node is not part of a swarm (no ${this.dir.nodeFile})`);
    const record = this.record;

    const local = new RpcServer({ logger: log }, { shutdownGraceMs: 500 });
    local.addService(DaemonService, this.daemonHandlers(), () => {});
    local.addService(ControlService, this.localControl(), () => {});
    await rm(this.config.controlSocket, { force: true });
    await local.bind(`unix://${this.config.controlSocket}`, ServerCredentials.createInsecure());
    await chmod(this.config.controlSocket, 0o600);
    const socketInode = (await stat(this.config.controlSocket)).ino;
    const localDone = local.run(stop);

    try {
      let key: NodeKeyFile;
      const initKey = seed?.ca.autolock ? parseUnlockKey(seed.ca.autolock.unlockKey) : undefined;
      if (initKey) {
        // A new autolocked cluster: the unlock key is still in hand, the node starts unlocked.
        key = await this.dir.keyStore.read(initKey);
        this.lastUnlockKey = initKey;
      } else if (await this.dir.keyStore.isLocked()) {
        this.locked = true;
        log.warn('node is locked: run "swarmctl unlock"');
        key = await Promise.race([
          this.unlockWaiter.promise,
          new Promise<never>((_, reject) =>
            stop.addEventListener('abort', () => reject(stop.reason), { once: true }),
          ),
        ]);
        this.locked = false;
      } else {
        key = await this.dir.keyStore.read();
      }
      // The trusted roots: replaced by the CA status poll (both roots during a rotation).
      let rootCaPem = await this.dir.readRootCa();
      const material = tlsMaterial(rootCaPem, key);
      let credentials: NodeCredentials = {
        certChainPem: key.certChainPem,
        keyPem: key.secrets.tlsKeyPem,
        identity: parseNodeCertificate(key.certChainPem),
      };
      const serverCreds = new NodeServerCredentials(material);
      const running: Promise<unknown>[] = [localDone];
      let manager: Manager | undefined;
      if (record.role === 'manager') {
        if (!key.secrets.dek)
          throw new SwarmError('CORRUPTION', `manager key file ${this.dir.keyStore.path} has no data key`);
        manager = new Manager(
          {
            clock: this.deps.clock,
            random: this.deps.random,
            randomBytes: this.deps.randomBytes,
            logger: this.deps.logger.child({ 'node.id': record.nodeId }),
            credentials: () =>
              clientCredentials({ ca: rootCaPem, cert: credentials.certChainPem, key: credentials.keyPem }),
            channelOptions: serverNameOverride(),
          },
          {
            nodeId: record.nodeId,
            clusterId: record.clusterId,
            raftDir: this.dir.raftDir,
            dek: key.secrets.dek,
            ...(seed ? { seed } : {}),
            ...(this.config.caLimits ? { caLimits: this.config.caLimits } : {}),
          },
        );
        this.manager = manager;
        const server = new RpcServer({ logger: log }, { shutdownGraceMs: 500 });
        manager.serve(server, { randomBytes: this.deps.randomBytes });
        await server.bind(record.listenAddr, serverCreds);
        running.push(server.run(stop), manager.run(stop));
        running.push(this.followAutolock(manager, key, stop));
        if (this.start.kind === 'join') await this.joinRaft(manager, record, material, stop);
        if (seed) {
          await this.waitForCluster(manager, stop);
          await this.dir.writeNode(record);
        }
      }
      const renewer = new CertRenewer(
        {
          clock: this.deps.clock,
          random: this.deps.random,
          logger: log,
          // Stored before the renewer adopts it: a restart never finds an older certificate.
          renew: async (current, s) => {
            const next = await renewWithCertificate(
              { current, rootsPem: rootCaPem, clock: this.deps.clock },
              {
                requestRenewal: async (req, s2) =>
                  (await renewAtManagers(this.managersToAsk(), rootCaPem, req.current, req.csrPem, s2 ?? s))
                    .certChainPem,
              },
              s,
            );
            await this.persistCredentials(next, manager);
            return next;
          },
        },
        credentials,
      );
      renewer.onDidRenew((c) => {
        credentials = c;
        serverCreds.update({ ca: rootCaPem, cert: c.certChainPem, key: c.keyPem });
        log.info('certificate renewed', { notAfter: new Date(c.identity.notAfter).toISOString() });
      });
      running.push(renewer.run(stop));
      running.push(
        pollCertificateStatus(
          {
            clock: this.deps.clock,
            logger: log,
            ask: (s) => certificateStatusAtManagers(this.managersToAsk(), rootCaPem, credentials, s),
            current: () => credentials,
            trust: () => rootCaPem,
            setTrust: async (pem) => {
              await this.dir.writeRootCa(pem);
              rootCaPem = pem;
              serverCreds.update({ ca: pem, cert: credentials.certChainPem, key: credentials.keyPem });
            },
            renewNow: () => renewer.renewNow(),
          },
          stop,
        ),
      );
      running.push(
        this.runAgent(
          record,
          () => clientCredentials({ ca: rootCaPem, cert: credentials.certChainPem, key: credentials.keyPem }),
          stop,
        ),
      );
      this.ready = true;
      log.info('node ready', { 'node.id': record.nodeId, role: record.role });
      await Promise.all(running);
    } finally {
      this.stop.abort();
      await localDone;
      // Only our own socket: a successor node process may already have bound the same path.
      const now = await stat(this.config.controlSocket).catch(() => undefined);
      if (now?.ino === socketInode) await rm(this.config.controlSocket, { force: true });
      if (this.leaving) await this.dir.wipe();
    }
  }

  /** The agent on every node (managers too), over this node's Docker engine. */
  private async runAgent(
    record: NodeRecord,
    creds: () => ChannelCredentials,
    signal: AbortSignal,
  ): Promise<void> {
    const logger = this.deps.logger.child({ 'node.id': record.nodeId });
    try {
      const executor = await DockerExecutor.create({
        nodeId: record.nodeId as NodeId,
        dockerHost: this.config.dockerHost,
        clock: this.deps.clock,
        random: this.deps.random,
        logger,
      });
      const agent = new Agent({
        clock: this.deps.clock,
        logger,
        executor,
        connect: (addr) => createClient(DispatcherService, addr, creds(), serverNameOverride()),
        managers: () => this.managersToAsk(),
      });
      await Promise.all([executor.run(signal), agent.run(signal)]);
    } catch (e) {
      if (!signal.aborted)
        logger.error('the agent stopped: this node runs no tasks', { error: errorMessage(e) });
    }
  }

  private managersToAsk(): string[] {
    const known = this.manager?.managerAddrs() ?? [];
    return [
      ...new Set([
        ...(this.record?.role === 'manager' ? [this.record.advertiseAddr] : []),
        ...known,
        ...(this.record?.managers ?? []),
      ]),
    ];
  }

  private async persistCredentials(c: NodeCredentials, manager: Manager | undefined): Promise<void> {
    const key = await this.dir.keyStore.read(await this.currentUnlockKey(manager));
    await this.dir.keyStore.write(
      { certChainPem: c.certChainPem, secrets: { ...key.secrets, tlsKeyPem: c.keyPem } },
      keyFileLock(manager ? await manager.caState.load() : undefined),
    );
  }

  private async currentUnlockKey(manager: Manager | undefined) {
    const ca = manager ? await manager.caState.load() : undefined;
    return ca?.autolock ? parseUnlockKey(ca.autolock.unlockKey) : undefined;
  }

  /** Re-seals this manager's key file whenever the cluster's autolock setting or unlock key changes. */
  private async followAutolock(manager: Manager, initial: NodeKeyFile, signal: AbortSignal): Promise<void> {
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
            const key = await this.dir.keyStore.read(sealedWith > 0 ? this.lastUnlockKey : undefined);
            const lock = keyFileLock(ca);
            await this.dir.keyStore.write({ certChainPem: key.certChainPem, secrets: key.secrets }, lock);
            this.lastUnlockKey = lock?.unlockKey;
            sealedWith = want;
          }
        } catch (e) {
          // Keep the old seal and try again at the next change; the node keeps running.
          this.deps.logger.error('could not re-seal the key file', { error: errorMessage(e) });
        }
        await Promise.race([changed.promise, aborted]);
        changed = deferred<void>();
      }
    } finally {
      sub.dispose();
    }
  }

  private lastUnlockKey: ReturnType<typeof parseUnlockKey> | undefined;

  private async joinRaft(
    manager: Manager,
    record: NodeRecord,
    material: { ca: string; cert: string; key: string },
    signal: AbortSignal,
  ): Promise<void> {
    let last: unknown;
    for (const addr of record.managers) {
      const c = createClient(MembershipService, addr, clientCredentials(material), serverNameOverride());
      try {
        const { members } = await c.call.Join(
          { nodeId: record.nodeId, raftAddr: record.advertiseAddr },
          { signal, timeoutMs: 20_000 },
        );
        // Until our store has replicated the node list, these are the only peers we know.
        for (const m of members) if (m.nodeId !== record.nodeId) manager.transport.setPeer(m.nodeId, m.addr);
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
  private async waitForCluster(manager: Manager, signal: AbortSignal): Promise<void> {
    const watch = manager.store.watch({ kinds: ['cluster'] }, signal);
    try {
      if (await manager.caState.load()) return;
      for await (const _ of watch) if (await manager.caState.load()) return;
      signal.throwIfAborted();
    } finally {
      watch.dispose();
    }
  }

  private daemonHandlers(): Handlers<typeof DaemonService.methods> {
    return {
      Status: async () => ({
        nodeId: this.record?.nodeId ?? '',
        role: this.record?.role ?? 'worker',
        locked: this.locked,
        ready: this.ready,
        clusterId: this.record?.clusterId ?? '',
        listenAddr: this.record?.listenAddr ?? this.config.listenAddr,
        advertiseAddr: this.record?.advertiseAddr ?? this.config.advertiseAddr,
        stateDir: this.config.stateDir,
        pid: process.pid,
      }),
      Unlock: async (req) => {
        if (!this.locked) throw new FailedPreconditionError('this node is not locked');
        const unlockKey = parseUnlockKey(req.unlockKey, 'unlock key');
        const key = await this.dir.keyStore.read(unlockKey);
        this.lastUnlockKey = unlockKey;
        this.unlockWaiter.resolve(key);
        return {};
      },
      Leave: async (req) => {
        if (this.record?.role === 'manager' && !req.force) {
          throw new FailedPreconditionError(
            'you are attempting to leave the swarm on a node that is participating as a manager; use --force to ignore this message',
          );
        }
        this.leaving = { force: req.force ?? false };
        setImmediate(() => this.stop.abort());
        return {};
      },
    };
  }

  /** The control API on the local socket: the manager's, once it runs (locked or worker: refused). */
  /**
   * The control API on the local socket: the manager's handlers once it runs; refused while the
   * node is locked or when it is a worker. The handlers are built once, on first use.
   */
  private localControl(): Handlers<ControlServiceMethods> {
    let built: Handlers<ControlServiceMethods> | undefined;
    const target = (): Handlers<ControlServiceMethods> => {
      if (this.locked) {
        throw new SwarmError(
          'LOCKED',
          'swarm is encrypted and needs to be unlocked before it can be used: run "swarmctl unlock"',
        );
      }
      if (!this.manager) {
        throw new FailedPreconditionError(
          'this node is not a swarm manager: run this command on a manager, or promote this node',
        );
      }
      built ??= this.manager.controlHandlers(this.deps.randomBytes);
      return built;
    };
    // One forwarding function per method; the method's own types flow through the proxy.
    return new Proxy({} as Handlers<ControlServiceMethods>, {
      get: (_t, method) => (req: never, ctx: never) =>
        (target()[method as keyof ControlServiceMethods] as (r: never, c: never) => unknown)(req, ctx),
    });
  }
}
