import {
  CaService,
  type CaServiceMethods,
  type Cluster,
  ControlService,
  type ControlServiceMethods,
  DispatcherService,
  LogsService,
  MembershipService,
  type Node,
} from '../api/index.js';
import type { CaSigningLimits, CaState, RandomBytes } from '../ca/index.js';
import {
  type Clock,
  type Component,
  DisposableStore,
  deferred,
  errorMessage,
  isSwarmError,
  type Logger,
  type Random,
  Supervisor,
} from '../common/index.js';
import {
  AesGcmCipher,
  GrpcTransport,
  RaftDriver,
  type RaftDriverOptions,
  RaftService,
  WalStorage,
} from '../raft/index.js';
import { type ChannelCredentials, createClient, type Handlers, type RpcServer } from '../rpc/index.js';
import { Allocator, MeshFeed } from './allocator/index.js';
import { type Audience, authorizer, everyMethod } from './authz.js';
import { caHandlers } from './ca/ca-server.js';
import { RootRotationReconciler } from './ca/root-rotation-reconciler.js';
import { parseCaState, publicCaFields, StoreCaState } from './ca/store-ca-state.js';
import { controlHandlers } from './control/control-server.js';
import { networkHandlers } from './control/networks.js';
import { serviceHandlers } from './control/services.js';
import { Dispatcher } from './dispatcher/index.js';
import { LogBroker, logControlHandlers } from './logbroker/index.js';
import { LearnerPromoter, ManagerStatusReporter, membershipHandlers, RoleReconciler } from './membership.js';
import {
  GlobalOrchestrator,
  JobsOrchestrator,
  ReplicatedOrchestrator,
  RestartSupervisor,
  TaskReaper,
  Updater,
} from './orchestrator/index.js';
import { RaftProposer } from './raft-proposer.js';
import { Scheduler } from './scheduler/index.js';
import { type ApplyResult, by, MemoryStore, storeStateMachine } from './store/index.js';

export interface ManagerDeps {
  clock: Clock;
  random: Random;
  randomBytes: RandomBytes;
  logger: Logger;
  /** Client credentials for dialling other managers (mutual TLS with this node's certificate). */
  credentials: () => ChannelCredentials;
  channelOptions?: Record<string, string>;
}

/** What a brand-new cluster writes first, once its founding manager leads. */
export interface ClusterSeed {
  cluster: Omit<Cluster, 'meta' | 'joinTokens' | 'rootCa' | 'caState'>;
  ca: CaState;
  self: Omit<Node, 'meta'>;
}

export interface ManagerOptions {
  nodeId: string;
  /** From this node's certificate: known before the store has replicated anything. */
  clusterId: string;
  raftDir: string;
  /** Data-encryption key for the WAL and snapshots (AES-256-GCM). */
  dek: Uint8Array;
  /** Founding member of a new cluster: bootstrap Raft with itself and write the seed. */
  seed?: ClusterSeed;
  raft?: Omit<RaftDriverOptions, 'bootstrap'>;
  /** Testing-only lower limits for certificate lives (see CaSigningLimits). */
  caLimits?: CaSigningLimits;
}

/**
 * The manager's composition root: Raft (driver, encrypted WAL, transport), the replicated store
 * and the group of control loops that runs only while this manager leads. It wires; it does not
 * decide. Services are exposed as handler sets for the daemon's listeners.
 */
export class Manager implements Component {
  readonly name = 'manager';
  readonly store: MemoryStore;
  readonly driver: RaftDriver<ApplyResult>;
  readonly transport: GrpcTransport;
  readonly caState: StoreCaState;
  readonly dispatcher: Dispatcher;
  /** Leader-only MeshState, pushed by the dispatcher to every worker session. */
  private readonly meshFeed: MeshFeed;
  readonly logBroker: LogBroker;
  private removed: ReadonlySet<string> = new Set();
  private clusterId: string;

  constructor(
    private readonly deps: ManagerDeps,
    private readonly options: ManagerOptions,
  ) {
    this.clusterId = options.clusterId;
    const logger = deps.logger.child({ module: 'manager', 'node.id': options.nodeId });
    this.transport = new GrpcTransport({
      self: options.nodeId,
      clock: deps.clock,
      logger,
      credentials: deps.credentials,
      ...(deps.channelOptions ? { channelOptions: deps.channelOptions } : {}),
    });
    let proposer: RaftProposer | undefined;
    this.store = new MemoryStore({
      clock: deps.clock,
      logger,
      proposer: { propose: (changes, signal) => proposer!.propose(changes, signal) },
    });
    const cipher = new AesGcmCipher({ keys: [{ id: 'dek1', key: options.dek }], activeKeyId: 'dek1' });
    this.driver = new RaftDriver<ApplyResult>(
      {
        id: options.nodeId,
        clock: deps.clock,
        random: deps.random,
        storage: new WalStorage(options.raftDir, { cipher, logger }),
        transport: this.transport,
        stateMachine: storeStateMachine(this.store),
        logger,
      },
      {
        ...options.raft,
        ...(options.seed ? { bootstrap: { voters: [options.nodeId], learners: [] } } : {}),
      },
    );
    proposer = new RaftProposer(this.driver);
    this.caState = new StoreCaState(this.store);
    this.meshFeed = new MeshFeed({ store: this.store, clock: deps.clock, logger });
    this.dispatcher = new Dispatcher({
      mesh: this.meshFeed,
      store: this.store,
      clock: deps.clock,
      logger,
      nodeId: options.nodeId,
      leader: () => this.driver.status().leader,
    });
    this.logBroker = new LogBroker({ store: this.store, logger, randomBytes: deps.randomBytes });
  }

  /**
   * Registers the manager's services on the inter-node listener, each with its audience:
   * joining nodes may only fetch the root and present a token; Raft, membership and control are
   * for managers; renewal for any node of the cluster.
   */
  serve(server: RpcServer, controlDeps: { randomBytes: RandomBytes }): void {
    const authz = (audienceOf: (method: string) => Audience) =>
      authorizer({ clusterId: () => this.clusterId, isRemoved: (id) => this.isRemoved(id) }, audienceOf);
    server
      .addService(RaftService, this.transport.handlers(), authz(everyMethod('manager')))
      .addService(
        MembershipService,
        membershipHandlers({ driver: this.driver, store: this.store }),
        authz(everyMethod('manager')),
      )
      .addService(
        CaService,
        this.caHandlers(),
        authz((m) => (m === 'GetRootCACertificate' || m === 'IssueNodeCertificate' ? 'anonymous' : 'node')),
      )
      .addService(
        ControlService,
        this.controlHandlers(controlDeps.randomBytes),
        authz(everyMethod('manager')),
      )
      .addService(DispatcherService, this.dispatcher.handlers(), authz(everyMethod('node')))
      .addService(LogsService, this.logBroker.workerHandlers(), authz(everyMethod('node')));
  }

  caHandlers(): Handlers<CaServiceMethods> {
    return caHandlers({
      store: this.store,
      caState: this.caState,
      clock: this.deps.clock,
      randomBytes: this.deps.randomBytes,
      logger: this.deps.logger,
      managerAddrs: () => this.managerAddrs(),
      ...(this.options.caLimits ? { limits: this.options.caLimits } : {}),
    });
  }

  controlHandlers(randomBytes: RandomBytes): Handlers<ControlServiceMethods> {
    return {
      ...this.clusterControl(randomBytes),
      ...serviceHandlers({ store: this.store, clock: this.deps.clock, randomBytes }),
      ...networkHandlers({ store: this.store, randomBytes }),
      ...this.logControl(),
    };
  }

  /** `service logs`: the leader's broker; a follower forwards to the leader's listener. */
  private logControl() {
    return logControlHandlers({
      store: this.store,
      broker: this.logBroker,
      isLeader: () => this.driver.status().leader === this.options.nodeId,
      leaderAddr: () => {
        const leader = this.driver.status().leader;
        return leader ? this.store.view((tx) => tx.get('node', leader)?.managerStatus?.addr) : undefined;
      },
      dialManager: (addr) =>
        createClient(ControlService, addr, this.deps.credentials(), this.deps.channelOptions ?? {}),
    });
  }

  private clusterControl(randomBytes: RandomBytes) {
    return controlHandlers({
      store: this.store,
      caState: this.caState,
      driver: this.driver,
      nodeId: this.options.nodeId,
      randomBytes,
      clock: this.deps.clock,
      ...(this.options.caLimits ? { limits: this.options.caLimits } : {}),
    });
  }

  /** Synchronous, for the authorizer on every call. */
  isRemoved(nodeId: string): boolean {
    return this.removed.has(nodeId);
  }

  currentClusterId(): string {
    return this.clusterId;
  }

  /** Raft addresses of the managers the store knows. */
  managerAddrs(): string[] {
    return this.store.view((tx) =>
      tx.find('node', by.role('manager')).flatMap((n) => (n.managerStatus ? [n.managerStatus.addr] : [])),
    );
  }

  async run(signal: AbortSignal): Promise<void> {
    const disposables = new DisposableStore();
    const log = this.deps.logger.child({ module: 'manager', 'node.id': this.options.nodeId });
    let leaderGroup: { stop: AbortController; done: Promise<void> } | undefined;
    const stopping: Promise<void>[] = [];
    const failed = deferred<never>();
    const stopLeaderGroup = (): void => {
      const g = leaderGroup;
      leaderGroup = undefined;
      if (!g) return;
      g.stop.abort();
      stopping.push(g.done);
    };
    try {
      disposables.add(
        this.driver.onLeadershipChange((s) => {
          if (s.role === 'leader' && !leaderGroup) {
            const stop = new AbortController();
            const group = new Supervisor('leader', { clock: this.deps.clock, logger: log })
              .add(new LearnerPromoter({ driver: this.driver, clock: this.deps.clock, logger: log }), {
                kind: 'restart',
                initialBackoffMs: 200,
                maxBackoffMs: 5000,
                maxRestarts: 100,
              })
              .add(this.seeder(log))
              .add(
                new RootRotationReconciler({
                  store: this.store,
                  caState: this.caState,
                  clock: this.deps.clock,
                  randomBytes: this.deps.randomBytes,
                  logger: log,
                }),
                { kind: 'restart', initialBackoffMs: 500, maxBackoffMs: 5000, maxRestarts: 100 },
              );
            this.addRoleLoops(group, log);
            this.addServiceLoops(group, log);
            leaderGroup = {
              stop,
              // A leader whose control loops gave up must not keep leading: the failure
              // escalates and stops this manager (its process exits; another manager leads).
              done: group.run(stop.signal).catch((e: unknown) => {
                log.error('leader group failed: stopping this manager', { error: errorMessage(e) });
                failed.reject(e);
              }),
            };
            log.info('leading: control loops started');
          } else if (s.role !== 'leader' && leaderGroup) {
            stopLeaderGroup();
            log.info('not leading: control loops stopped');
          }
        }),
      );
      const parts = new AbortController();
      const onAbort = (): void => parts.abort(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      disposables.defer(() => signal.removeEventListener('abort', onAbort));
      const running = Promise.all([
        this.transport.run(parts.signal),
        this.driver.run(parts.signal),
        this.followStore(parts.signal),
      ]);
      try {
        await Promise.race([running, failed.promise]);
      } finally {
        parts.abort();
        await running;
      }
    } finally {
      stopLeaderGroup();
      await Promise.all(stopping);
      disposables.dispose();
    }
  }

  /** Orchestrators, scheduler and the dispatcher's heartbeat monitor: leader-only, store-driven. */
  private addServiceLoops(group: Supervisor, log: Logger): void {
    const deps = {
      store: this.store,
      clock: this.deps.clock,
      logger: log,
      randomBytes: this.deps.randomBytes,
    };
    const restart = {
      kind: 'restart',
      initialBackoffMs: 200,
      maxBackoffMs: 5000,
      maxRestarts: 1000,
    } as const;
    // Tasks are created `new`: the allocator gives them their addresses, then hands them to the
    // scheduler as `pending` (a task never reaches a node before its networks are allocated).
    const orchestration = { initialTaskState: 'new' } as const;
    group
      .add(new Allocator(deps), restart)
      .add(this.meshFeed, restart)
      .add(new ReplicatedOrchestrator(deps, orchestration), restart)
      .add(new GlobalOrchestrator(deps, orchestration), restart)
      .add(new JobsOrchestrator(deps, orchestration), restart)
      .add(new RestartSupervisor(deps, orchestration), restart)
      .add(new Updater(deps, orchestration), restart)
      .add(new TaskReaper(deps), restart)
      .add(new Scheduler({ store: this.store, clock: this.deps.clock, logger: log }), restart)
      .add(this.dispatcher.monitor(), restart);
  }

  /** Demotions and the managers' recorded status (leader flag, reachability): leader-only. */
  private addRoleLoops(group: Supervisor, log: Logger): void {
    const deps = {
      driver: this.driver,
      store: this.store,
      clock: this.deps.clock,
      logger: log,
      nodeId: this.options.nodeId,
    };
    const restart = { kind: 'restart', initialBackoffMs: 200, maxBackoffMs: 5000, maxRestarts: 100 } as const;
    group
      .add(new RoleReconciler(deps), restart)
      .add(new ManagerStatusReporter({ ...deps, transport: this.transport }), restart);
  }

  /** Writes the new cluster's seed the first time its founding manager leads. */
  private seeder(log: Logger): Component {
    return {
      name: 'cluster-seeder',
      run: async (signal) => {
        const seed = this.options.seed;
        if (!seed) return;
        const exists = this.store.view((tx) => tx.find('cluster', by.all()).length > 0);
        if (exists) return;
        await this.store.update(
          (tx) => {
            tx.create('cluster', { ...seed.cluster, ...publicCaFields(seed.ca) });
            tx.create('node', seed.self);
          },
          { signal },
        );
        log.info('cluster created', { 'cluster.id': seed.ca.clusterId });
      },
    };
  }

  /** Transport peers and the removed-node list follow the store; resyncs after a restore. */
  private async followStore(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const watch = this.store.watch({ kinds: ['node', 'cluster'] }, signal);
      try {
        this.syncFromStore();
        for await (const e of watch) if (e.kind === 'commit') this.syncFromStore();
      } catch (e) {
        if (signal.aborted) break;
        if (!isSwarmError(e)) throw e;
      } finally {
        watch.dispose();
      }
    }
  }

  private syncFromStore(): void {
    const { managers, cluster } = this.store.view((tx) => ({
      managers: tx.find('node', by.role('manager')),
      cluster: tx.find('cluster', by.all())[0],
    }));
    const want = new Map<string, string>();
    for (const n of managers)
      if (n.managerStatus && n.id !== this.options.nodeId) want.set(n.id, n.managerStatus.addr);
    for (const [id, addr] of want) this.transport.setPeer(id, addr);
    for (const id of this.knownPeers) if (!want.has(id)) this.transport.removePeer(id);
    this.knownPeers = new Set(want.keys());
    if (cluster?.caState) {
      const ca = parseCaState(cluster.caState);
      this.removed = new Set(ca.removedNodeIds);
      this.caState.notify(cluster);
    }
  }

  private knownPeers = new Set<string>();
}
