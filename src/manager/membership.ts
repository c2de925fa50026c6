import type { ManagerStatus, MembershipServiceMethods, Node, Reachability } from '../api/index.js';
import {
  abortableDelay,
  type Clock,
  type Component,
  errorMessage,
  FailedPreconditionError,
  isSwarmError,
  type Logger,
  NotFoundError,
  SwarmError,
} from '../common/index.js';
import type { NodeId, RaftDriver, Transport } from '../raft/index.js';
import type { Handlers } from '../rpc/index.js';
import { type ApplyResult, by, type MemoryStore } from './store/index.js';

type Driver = RaftDriver<ApplyResult>;

/**
 * Whether `target` can leave the voters without costing quorum: the voters left, counting this
 * manager and those the store records as reachable, must still be a majority of the new group
 * (swarmkit's CanRemoveMember).
 */
export function canRemoveVoter(
  voters: readonly string[],
  target: string,
  self: string,
  isReachable: (nodeId: string) => boolean,
): boolean {
  const after = voters.filter((v) => v !== target);
  if (after.length === 0) return false;
  const reachable = after.filter((v) => v === self || isReachable(v)).length;
  return reachable >= Math.floor(after.length / 2) + 1;
}

/** Reachability as the leader last recorded it; a manager never judged counts as reachable. */
export function recordedReachable(store: MemoryStore): (nodeId: string) => boolean {
  const unreachable = new Set(
    store.view((tx) =>
      tx
        .find('node', by.role('manager'))
        .filter((n) => n.managerStatus?.reachability === 'unreachable')
        .map((n) => n.id as string),
    ),
  );
  return (id) => !unreachable.has(id);
}

function withoutManagerStatus(n: Node): Node {
  const { managerStatus: _, ...rest } = n;
  return rest;
}

/** Raft membership calls between managers: a joining manager becomes a learner first. */
export function membershipHandlers(deps: {
  driver: Driver;
  store: MemoryStore;
}): Handlers<MembershipServiceMethods> {
  const members = () =>
    deps.store.view((tx) =>
      tx
        .find('node', { index: 'role', key: 'manager' })
        .filter((n) => n.managerStatus)
        .map((n) => ({ nodeId: n.id, addr: n.managerStatus!.addr })),
    );
  return {
    Join: async (req, ctx) => {
      if (ctx.peer && ctx.peer.nodeId !== req.nodeId) {
        throw new SwarmError('PERMISSION_DENIED', `${ctx.peer.nodeId} cannot join Raft as ${req.nodeId}`);
      }
      // The node object first: its manager status gives the members its address (transport peers)
      // before the learner is added, and keeps its manager certificate while it is a member.
      await deps.store.update(
        (tx) => {
          const node = tx.get('node', req.nodeId);
          if (!node) throw new NotFoundError('node', req.nodeId);
          if (node.spec.desiredRole !== 'manager') {
            throw new FailedPreconditionError(`node ${req.nodeId} is not to be a manager (it was demoted)`);
          }
          if (node.role === 'manager' && node.managerStatus?.addr === req.raftAddr) return;
          const managerStatus: ManagerStatus = {
            raftId: node.id,
            addr: req.raftAddr,
            leader: false,
            reachability: node.managerStatus?.reachability ?? 'unknown',
          };
          tx.update('node', { ...node, role: 'manager', managerStatus });
        },
        { signal: ctx.signal, retries: 5 },
      );
      const conf = deps.driver.status().conf;
      if (!conf.voters.includes(req.nodeId) && !conf.learners.includes(req.nodeId)) {
        await deps.driver.proposeConfChange(
          { type: 'add-learner', node: req.nodeId },
          { signal: ctx.signal },
        );
      }
      return { members: members() };
    },
    Leave: async (req, ctx) => {
      const conf = deps.driver.status().conf;
      if (conf.voters.includes(req.nodeId) || conf.learners.includes(req.nodeId)) {
        await deps.driver.proposeConfChange({ type: 'remove', node: req.nodeId }, { signal: ctx.signal });
      }
      return {};
    },
  };
}

/**
 * On the leader: promotes learners to voters once they have caught up (match within `lagEntries`
 * of the leader's commit), one change at a time.
 */
export class LearnerPromoter implements Component {
  readonly name = 'learner-promoter';

  constructor(
    private readonly deps: { driver: Driver; clock: Clock; logger: Logger },
    private readonly options: { intervalMs?: number; lagEntries?: number } = {},
  ) {}

  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await abortableDelay(this.deps.clock, this.options.intervalMs ?? 200, signal);
      if (signal.aborted) break;
      const s = this.deps.driver.status();
      if (s.role !== 'leader') continue;
      for (const learner of s.conf.learners) {
        const p = s.progress.get(learner);
        if (!p || p.match + (this.options.lagEntries ?? 10) < s.commit) continue;
        try {
          await this.deps.driver.proposeConfChange({ type: 'promote', node: learner }, { signal });
          this.deps.logger.info('learner promoted to voter', { 'node.id': learner });
        } catch (e) {
          if (!isSwarmError(e) && !signal.aborted) throw e;
          this.deps.logger.debug('promotion deferred', { 'node.id': learner, error: errorMessage(e) });
        }
        break;
      }
    }
  }
}

export interface RoleReconcilerDeps {
  driver: Driver;
  store: MemoryStore;
  clock: Clock;
  logger: Logger;
  /** This manager (the leader while the reconciler runs). */
  nodeId: string;
  /** @default 250 */
  intervalMs?: number;
}

/**
 * On the leader: carries out demotions (swarmkit's role manager). A node whose desired role is
 * worker leaves Raft (the leader demoting itself hands leadership over first and lets its successor
 * finish), only while the voters left keep a reachable quorum; then its manager status is dropped
 * and its role becomes worker, which lets the CA issue it a worker certificate. Promotions need no
 * step here: the promoted node joins by itself once it holds a manager certificate.
 */
export class RoleReconciler implements Component {
  readonly name = 'role-reconciler';

  constructor(private readonly deps: RoleReconcilerDeps) {}

  async run(signal: AbortSignal): Promise<void> {
    const log = this.deps.logger.child({ module: 'manager/roles' });
    while (!signal.aborted) {
      try {
        await this.reconcile(log, signal);
      } catch (e) {
        if (signal.aborted) break;
        if (!isSwarmError(e)) throw e;
        log.debug('demotion deferred', { error: errorMessage(e) });
      }
      await abortableDelay(this.deps.clock, this.deps.intervalMs ?? 250, signal);
    }
  }

  /** One pass over the nodes being demoted. */
  async reconcile(log: Logger, signal: AbortSignal): Promise<void> {
    const demoting = this.deps.store.view((tx) =>
      tx
        .find('node', by.all())
        .filter((n) => n.spec.desiredRole === 'worker' && (n.role === 'manager' || n.managerStatus)),
    );
    for (const node of demoting) {
      const s = this.deps.driver.status();
      if (s.role !== 'leader') return;
      const isVoter = s.conf.voters.includes(node.id);
      if (isVoter || s.conf.learners.includes(node.id)) {
        if (node.id === this.deps.nodeId) {
          this.handOver(log);
          return;
        }
        // Stricter than the API's check: the records give a member that just died a few seconds'
        // grace, Raft's own progress does not (a peer the transport cannot reach is probed).
        const recorded = recordedReachable(this.deps.store);
        const live = (id: string): boolean => recorded(id) && s.progress.get(id)?.state === 'replicate';
        if (isVoter && !canRemoveVoter(s.conf.voters, node.id, this.deps.nodeId, live)) continue;
        await this.deps.driver.proposeConfChange({ type: 'remove', node: node.id }, { signal });
        log.info('demoted manager left Raft', { 'node.id': node.id });
      }
      await this.deps.store.update(
        (tx) => {
          const cur = tx.get('node', node.id);
          if (cur?.spec.desiredRole !== 'worker') return;
          tx.update('node', { ...withoutManagerStatus(cur), role: 'worker' });
        },
        { signal, retries: 5 },
      );
      log.info('node demoted to worker', { 'node.id': node.id });
    }
  }

  /** Hands leadership to the most caught-up reachable voter; its reconciler removes us. */
  private handOver(log: Logger): void {
    const s = this.deps.driver.status();
    if (s.leadTransferee) return;
    const reachable = recordedReachable(this.deps.store);
    let best: { id: NodeId; match: number } | undefined;
    for (const id of s.conf.voters) {
      if (id === this.deps.nodeId || !reachable(id)) continue;
      const match = s.progress.get(id)?.match ?? 0;
      if (!best || match > best.match) best = { id, match };
    }
    if (!best) return;
    log.info('leader demoted: transferring leadership', { to: best.id });
    this.deps.driver.transferLeadership(best.id);
  }
}

export interface ManagerStatusReporterDeps {
  driver: Driver;
  store: MemoryStore;
  transport: Pick<Transport, 'onMessage'>;
  clock: Clock;
  logger: Logger;
  nodeId: string;
  /** A member not heard from for this long is unreachable. @default 3000 */
  unreachableAfterMs?: number;
  /** @default 500 */
  intervalMs?: number;
}

/**
 * On the leader: keeps every manager's `managerStatus` (leader flag, reachability) current in the
 * store, so `node ls` and `info` on any manager show it and a demotion can be checked against
 * quorum anywhere. A member is reachable while its Raft messages keep arriving (followers answer
 * every heartbeat). Writes only what changed.
 */
export class ManagerStatusReporter implements Component {
  readonly name = 'manager-status';

  constructor(private readonly deps: ManagerStatusReporterDeps) {}

  async run(signal: AbortSignal): Promise<void> {
    const lastHeard = new Map<string, number>();
    const started = this.deps.clock.monotonic();
    const sub = this.deps.transport.onMessage((m) => lastHeard.set(m.from, this.deps.clock.monotonic()));
    const after = this.deps.unreachableAfterMs ?? 3000;
    try {
      while (!signal.aborted) {
        const now = this.deps.clock.monotonic();
        const reachability = (id: string): Reachability => {
          if (id === this.deps.nodeId) return 'reachable';
          // A new leader gives every member one period to be heard from.
          return now - (lastHeard.get(id) ?? started) < after ? 'reachable' : 'unreachable';
        };
        try {
          await this.deps.store.update(
            (tx) => {
              for (const n of tx.find('node', by.role('manager'))) {
                const ms = n.managerStatus;
                if (!ms) continue;
                const next = { leader: n.id === this.deps.nodeId, reachability: reachability(n.id) };
                if (ms.leader === next.leader && ms.reachability === next.reachability) continue;
                tx.update('node', { ...n, managerStatus: { ...ms, ...next } });
              }
            },
            { signal, retries: 3 },
          );
        } catch (e) {
          if (signal.aborted) break;
          if (!isSwarmError(e)) throw e;
          this.deps.logger.debug('manager status not recorded', { error: errorMessage(e) });
        }
        await abortableDelay(this.deps.clock, this.deps.intervalMs ?? 500, signal);
      }
    } finally {
      sub.dispose();
    }
  }
}
