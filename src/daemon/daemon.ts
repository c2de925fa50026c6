import { chmod, rm, stat } from 'node:fs/promises';
import {
  ControlService,
  type ControlServiceMethods,
  DaemonService,
  type DaemonStatus,
  DispatcherService,
  LogsService,
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
  withTimeout,
} from '../common/index.js';
import { by, type Manager } from '../manager/index.js';
import { createDataPlane } from '../routing-mesh/index.js';
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
import { Agent, DockerExecutor, dockerOptions } from '../worker/index.js';
import { LEAVE_TIMEOUT_MS, runAgentParts } from './agent-parts.js';
import { type InitOptions, initIdentity, joinIdentity } from './bootstrap.js';
import { CaStatusClients } from './ca-status-clients.js';
import { pollCertificateStatus } from './cert-status.js';
import { type DaemonConfig, type DataPlaneChoice, dataPlaneChosenBy, settleDataPlane } from './config.js';
import { caStatusClient, keyFileLock, renewAtManagers, tlsMaterial } from './identity.js';
import { RoleSwitch } from './role-switch.js';
import { type NodeRecord, StateDir } from './state-dir.js';

type UnlockKey = ReturnType<typeof parseUnlockKey>;

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
  private dataPlane: DaemonStatus['dataPlane'];
  /** The data plane to start: this start's choice or the state directory's (`settleDataPlane`). */
  private dataPlaneChoice: DataPlaneChoice;
  private dataPlaneChosenBy: string | undefined;
  private unlockWaiter = deferred<NodeKeyFile>();
  private manager: Manager | undefined;
  private roles: RoleSwitch | undefined;
  private readonly stop = new AbortController();
  private leaving: { force: boolean } | undefined;
  /** Resolved once the node has stopped: its agent, its containers (on leave), its data plane and state. */
  private readonly left = deferred<void>();

  constructor(
    private readonly deps: DaemonDeps,
    private readonly config: DaemonConfig,
    private readonly start: DaemonStart,
  ) {
    this.dir = new StateDir(config.stateDir);
    this.dataPlaneChoice = config.dataPlane;
  }

  async run(signal: AbortSignal): Promise<void> {
    const log = this.deps.logger.child({ module: 'daemon' });
    const stop = AbortSignal.any([signal, this.stop.signal]);
    // A manager part that fails by itself stops the node (as it did before roles could change).
    const fatal = deferred<void>();
    stop.addEventListener('abort', () => fatal.resolve(), { once: true });
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
    await this.settleDataPlane(log);

    const local = new RpcServer({ logger: log }, { shutdownGraceMs: 500 });
    local.addService(DaemonService, this.daemonHandlers(), () => {});
    local.addService(ControlService, this.localControl(), () => {});
    await rm(this.config.controlSocket, { force: true });
    await local.bind(`unix://${this.config.controlSocket}`, ServerCredentials.createInsecure());
    await chmod(this.config.controlSocket, 0o600);
    const socketInode = (await stat(this.config.controlSocket)).ino;
    // The local socket outlives the rest: a `leave` in flight answers once the node has left.
    const localStop = new AbortController();
    const localDone = local.run(localStop.signal);
    let agentDone: Promise<void> | undefined;

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
      const running: Promise<unknown>[] = [fatal.promise];
      const roleDeps = {
        clock: this.deps.clock,
        random: this.deps.random,
        randomBytes: this.deps.randomBytes,
        logger: this.deps.logger,
        dir: this.dir,
        config: this.config,
        clientCredentials: () =>
          clientCredentials({ ca: rootCaPem, cert: credentials.certChainPem, key: credentials.keyPem }),
        serverCredentials: serverCreds,
        unlockKey: {
          get: () => this.lastUnlockKey,
          set: (k: UnlockKey | undefined) => {
            this.lastUnlockKey = k;
          },
        },
      };
      this.roles = new RoleSwitch(roleDeps, {
        record: () => this.record!,
        setRecord: async (r) => {
          this.record = r;
          await this.dir.writeNode(r);
        },
        setRunner: (r) => {
          this.manager = r?.manager;
        },
        managers: () => this.managersToAsk(),
        certificateRole: () => credentials.identity.role,
        onFatal: (e) => fatal.reject(e),
      });
      if (record.role === 'manager') {
        await this.roles.startManager(
          key,
          {
            ...(seed ? { seed } : {}),
            ...(this.start.kind === 'join' ? { join: { via: record.managers } } : {}),
          },
          stop,
        );
        if (seed) await this.dir.writeNode(record);
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
            await this.persistCredentials(next, this.manager);
            return next;
          },
        },
        credentials,
      );
      renewer.onDidRenew((c) => {
        credentials = c;
        serverCreds.update({ ca: rootCaPem, cert: c.certChainPem, key: c.keyPem });
        log.info('certificate renewed', { notAfter: new Date(c.identity.notAfter).toISOString() });
        // A manager certificate after a promotion: start the manager side now, not at the next poll.
        void this.roles?.follow(undefined, stop);
      });
      running.push(renewer.run(stop));
      // One channel per manager across polls, closed when the node stops.
      const caStatus = new CaStatusClients(caStatusClient, stop);
      running.push(
        pollCertificateStatus(
          {
            clock: this.deps.clock,
            random: this.deps.random,
            logger: log,
            // Other managers first: a demoted manager's own store stops following the cluster once
            // it has left Raft, so only they can tell it that it is a worker now.
            ask: (s) =>
              caStatus.ask(
                this.othersFirst(),
                { ca: rootCaPem, cert: credentials.certChainPem, key: credentials.keyPem },
                s,
              ),
            onStatus: (status) => this.roles!.follow(status.desiredRole, stop),
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
      agentDone = this.runAgent(
        record,
        () => clientCredentials({ ca: rootCaPem, cert: credentials.certChainPem, key: credentials.keyPem }),
        stop,
      );
      running.push(agentDone);
      this.ready = true;
      log.info('node ready', { 'node.id': record.nodeId, role: record.role });
      await Promise.all(running);
    } finally {
      this.stop.abort();
      await this.roles?.current?.stop();
      // Whatever ended the node, the data plane's teardown ends before the process does.
      await agentDone;
      if (this.leaving) await this.dir.wipe();
      this.left.resolve();
      localStop.abort();
      await localDone;
      // Only our own socket: a successor node process may already have bound the same path.
      const now = await stat(this.config.controlSocket).catch(() => undefined);
      if (now?.ino === socketInode) await rm(this.config.controlSocket, { force: true });
    }
  }

  /** Remembers the first start's data plane choice; a later explicit one replaces it, logged. */
  private async settleDataPlane(log: Logger): Promise<void> {
    const s = settleDataPlane(this.config, await this.dir.readDataPlane());
    this.dataPlaneChoice = s.choice;
    this.dataPlaneChosenBy = dataPlaneChosenBy(s);
    if (s.changed)
      log.warn('data plane choice changed', { from: s.changed.from, to: s.choice, by: s.changed.source });
    if (s.persist) await this.dir.writeDataPlane(s.choice);
  }

  /** The agent on every node (managers too), over this node's Docker engine. */
  private async runAgent(
    record: NodeRecord,
    creds: () => ChannelCredentials,
    signal: AbortSignal,
  ): Promise<void> {
    const logger = this.deps.logger.child({ 'node.id': record.nodeId });
    try {
      // The overlays and the ingress mesh of this node, driven by the agent's MeshState.
      const mesh = await createDataPlane({
        nodeId: record.nodeId as NodeId,
        docker: dockerOptions(this.config.dockerHost),
        logger,
        clock: this.deps.clock,
        random: this.deps.random,
        removeAllOnStop: () => this.leaving !== undefined,
        ...(this.dataPlaneChoice !== 'auto' && {
          force: this.dataPlaneChoice,
          forcedBy: this.dataPlaneChosenBy,
        }),
      });
      this.dataPlane = {
        kind: mesh.kind,
        ...(mesh.reason !== undefined && { reason: mesh.reason }),
        ...(mesh.covers !== undefined && { covers: mesh.covers }),
      };
      const executor = await DockerExecutor.create({
        nodeId: record.nodeId as NodeId,
        dockerHost: this.config.dockerHost,
        clock: this.deps.clock,
        random: this.deps.random,
        logger,
        networks: mesh,
      });
      const agent = new Agent({
        clock: this.deps.clock,
        logger,
        executor,
        connect: (addr) => createClient(DispatcherService, addr, creds(), serverNameOverride()),
        connectLogs: (addr) => createClient(LogsService, addr, creds(), serverNameOverride()),
        managers: () => this.managersToAsk(),
        mesh,
        advertiseAddr: record.advertiseAddr,
      });
      await runAgentParts(
        { agent, executor, mesh, logger, leaving: () => this.leaving !== undefined },
        signal,
      );
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

  private lastUnlockKey: UnlockKey | undefined;

  /** This manager's own address last: see the status poll. */
  private othersFirst(): string[] {
    const all = this.managersToAsk();
    const self = this.record?.advertiseAddr;
    return [...all.filter((a) => a !== self), ...all.filter((a) => a === self)];
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
        ...(this.dataPlane && { dataPlane: this.dataPlane }),
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
        if (this.record?.role === 'manager' && !req.force) throw this.managerLeaveRefusal();
        this.leaving = { force: req.force ?? false };
        setImmediate(() => this.stop.abort());
        // As docker's, the call returns once the node has left: its task containers and every
        // rule, device and network of its data plane gone.
        await withTimeout(this.left.promise, LEAVE_TIMEOUT_MS, 'leaving the swarm');
        return {};
      },
    };
  }

  /** Docker's refusal of `leave` on a manager without --force, with what it would cost quorum. */
  private managerLeaveRefusal(): SwarmError {
    let msg = 'You are attempting to leave the swarm on a node that is participating as a manager. ';
    const m = this.manager;
    if (m) {
      const self = this.record?.nodeId;
      const { voters } = m.driver.status().conf;
      const unreachableIds = new Set(
        m.store.view((tx) =>
          tx
            .find('node', by.role('manager'))
            .filter((n) => n.managerStatus?.reachability === 'unreachable')
            .map((n) => n.id as string),
        ),
      );
      const reachable = voters.filter((v) => v === self || !unreachableIds.has(v)).length;
      const unreachable = voters.length - reachable;
      if (reachable - 2 <= unreachable) {
        if (reachable === 1 && unreachable === 0) {
          return new FailedPreconditionError(
            `${msg}Removing the last manager erases all current state of the swarm. Use \`--force\` to ignore this message.`,
          );
        }
        msg += `Removing this node leaves ${reachable - 1} managers out of ${reachable + unreachable}. Without a Raft quorum your swarm will be inaccessible. `;
      }
    } else {
      msg += 'Doing so may lose the consensus of your cluster. ';
    }
    return new FailedPreconditionError(
      `${msg}The only way to restore a swarm that has lost consensus is to reinitialize it with \`--force-new-cluster\`. Use \`--force\` to suppress this message.`,
    );
  }

  /**
   * The control API on the local socket: the manager's handlers once it runs; refused while the
   * node is locked or when it is a worker. The handlers are built once, on first use.
   */
  private localControl(): Handlers<ControlServiceMethods> {
    let built: { for: Manager; handlers: Handlers<ControlServiceMethods> } | undefined;
    const target = (): Handlers<ControlServiceMethods> => {
      if (this.locked) {
        throw new SwarmError(
          'LOCKED',
          'swarm is encrypted and needs to be unlocked before it can be used: run "swarmctl unlock"',
        );
      }
      if (!this.manager) {
        throw new FailedPreconditionError(
          "This node is not a swarm manager. Worker nodes can't be used to view or modify cluster state. Please run this command on a manager node or promote the current node to a manager.",
        );
      }
      // Rebuilt when the manager changes (a demotion and a new promotion).
      if (built?.for !== this.manager)
        built = { for: this.manager, handlers: this.manager.controlHandlers(this.deps.randomBytes) };
      return built.handlers;
    };
    // One forwarding function per method; the method's own types flow through the proxy.
    return new Proxy({} as Handlers<ControlServiceMethods>, {
      get: (_t, method) => (req: never, ctx: never) =>
        (target()[method as keyof ControlServiceMethods] as (r: never, c: never) => unknown)(req, ctx),
    });
  }
}
