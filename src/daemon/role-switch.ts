import type { NodeRole } from '../api/index.js';
import { generateDek, type NodeKeyFile } from '../ca/index.js';
import { errorMessage } from '../common/index.js';
import type { ClusterSeed } from '../manager/index.js';
import { ManagerRunner, type ManagerRunnerDeps } from './manager-runner.js';
import type { NodeRecord } from './state-dir.js';

export interface RoleSwitchHooks {
  record(): NodeRecord;
  /** Adopts and stores the node record (role, managers known). */
  setRecord(record: NodeRecord): Promise<void>;
  /** The manager now running, if any (control socket, manager addresses, key sealing). */
  setRunner(runner: ManagerRunner | undefined): void;
  /** The role of the certificate the node holds now. */
  certificateRole(): NodeRole;
  /** Managers to ask to be let into Raft. */
  managers(): string[];
  /** A manager part failed by itself: the node stops with that error. */
  onFatal(error: unknown): void;
}

/**
 * Starts and stops the node's manager side as its role changes, one change at a time. Promotion:
 * once the node holds a manager certificate it gets a data key, starts its manager and asks a
 * manager to add it to Raft as a learner (the leader makes it a voter once caught up). Demotion:
 * once the CA says worker (the leader has taken the node out of Raft) the manager stops, its Raft
 * state is removed, and the node goes on as a worker; its agent and tasks are not touched.
 */
export class RoleSwitch {
  private runner: ManagerRunner | undefined;
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly deps: ManagerRunnerDeps,
    private readonly hooks: RoleSwitchHooks,
  ) {}

  get current(): ManagerRunner | undefined {
    return this.runner;
  }

  /** Starts the manager side (boot of a manager, or a promotion); throws if it cannot start. */
  async startManager(
    key: NodeKeyFile,
    options: { seed?: ClusterSeed; join?: { via: readonly string[] } },
    signal: AbortSignal,
  ): Promise<void> {
    const runner = new ManagerRunner(this.deps, { record: this.hooks.record(), key, ...options });
    await runner.run(signal);
    this.runner = runner;
    this.hooks.setRunner(runner);
    runner.done.then(
      () => undefined,
      (e: unknown) => {
        if (this.runner === runner && !signal.aborted) this.hooks.onFatal(e);
      },
    );
  }

  /**
   * Follows the role the CA issues (`desired`, from the status poll) or, without it, the role of
   * a certificate just renewed. Serialised; a failed step is logged and retried at the next call.
   */
  follow(desired: NodeRole | undefined, signal: AbortSignal): Promise<void> {
    this.queue = this.queue
      .then(() => this.step(desired, signal))
      .catch((e: unknown) => {
        if (!signal.aborted) this.deps.logger.warn('role change failed', { error: errorMessage(e) });
      });
    return this.queue;
  }

  private async step(desired: NodeRole | undefined, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return;
    if (this.runner && desired === 'worker') await this.demote();
    else if (!this.runner && desired !== 'worker' && this.hooks.certificateRole() === 'manager')
      await this.promote(signal);
  }

  private async promote(signal: AbortSignal): Promise<void> {
    const log = this.deps.logger.child({ module: 'daemon/roles' });
    const { keyStore } = this.deps.dir;
    const unlockKey = this.deps.unlockKey.get();
    let key = await keyStore.read(unlockKey);
    if (!key.secrets.dek) {
      const secrets = { ...key.secrets, dek: generateDek(this.deps.randomBytes) };
      await keyStore.write(
        { certChainPem: key.certChainPem, secrets },
        key.kekVersion > 0 && unlockKey ? { unlockKey, kekVersion: key.kekVersion } : undefined,
      );
      key = { ...key, secrets };
    }
    // A leftover log (a crash during an earlier demotion) must not come back: join afresh.
    await this.deps.dir.wipeRaft();
    log.info('promoted: starting the manager and joining Raft');
    await this.startManager(key, { join: { via: this.hooks.managers() } }, signal);
    await this.hooks.setRecord({ ...this.hooks.record(), role: 'manager' });
    log.info('manager running: Raft learner until caught up');
  }

  private async demote(): Promise<void> {
    const runner = this.runner;
    if (!runner) return;
    const log = this.deps.logger.child({ module: 'daemon/roles' });
    const record = this.hooks.record();
    const others = runner.manager.managerAddrs().filter((a) => a !== record.advertiseAddr);
    log.info('demoted: stopping the manager');
    this.runner = undefined;
    this.hooks.setRunner(undefined);
    await runner.stop();
    await this.deps.dir.wipeRaft();
    await this.hooks.setRecord({
      ...record,
      role: 'worker',
      managers: others.length > 0 ? others : record.managers,
    });
    log.info('running as a worker: manager stopped, Raft state removed');
  }
}
