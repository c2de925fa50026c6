import type { MembershipServiceMethods } from '../api/index.js';
import {
  abortableDelay,
  type Clock,
  type Component,
  DisposableStore,
  errorMessage,
  isSwarmError,
  type Logger,
} from '../common/index.js';
import type { RaftDriver } from '../raft/index.js';
import type { Handlers } from '../rpc/index.js';
import type { ApplyResult, MemoryStore } from './store/index.js';

type Driver = RaftDriver<ApplyResult>;

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
    const store = new DisposableStore();
    try {
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
    } finally {
      store.dispose();
    }
  }
}
