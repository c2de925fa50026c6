import { FailedPreconditionError, InvalidArgumentError } from '../../common/index.js';
import type { ConfChange, ConfState, NodeId } from '../types.js';

/** A membership configuration: voters decide elections and commits, learners only replicate. */
export class Membership {
  readonly voters: ReadonlySet<NodeId>;
  readonly learners: ReadonlySet<NodeId>;

  constructor(conf: ConfState) {
    this.voters = new Set(conf.voters);
    this.learners = new Set(conf.learners.filter((l) => !this.voters.has(l)));
  }

  static empty(): Membership {
    return new Membership({ voters: [], learners: [] });
  }

  toConfState(): ConfState {
    return { voters: [...this.voters].sort(), learners: [...this.learners].sort() };
  }

  isMember(id: NodeId): boolean {
    return this.voters.has(id) || this.learners.has(id);
  }

  /** Sorted so iteration order never depends on how the set was built (determinism). */
  members(): NodeId[] {
    return [...this.voters, ...this.learners].sort();
  }

  quorum(): number {
    return Math.floor(this.voters.size / 2) + 1;
  }

  /** The highest index stored by a majority of voters, given each voter's match index. */
  committedIndex(match: (id: NodeId) => number): number {
    if (this.voters.size === 0) return 0;
    const m = [...this.voters].map(match).sort((a, b) => b - a);
    return m[this.quorum() - 1]!;
  }

  /** 'won' / 'lost' / 'pending' for a tally of granted and rejected votes. */
  voteResult(votes: ReadonlyMap<NodeId, boolean>): 'won' | 'lost' | 'pending' {
    let granted = 0;
    let rejected = 0;
    for (const v of this.voters) {
      const g = votes.get(v);
      if (g === true) granted++;
      else if (g === false) rejected++;
    }
    const q = this.quorum();
    if (granted >= q) return 'won';
    if (rejected > this.voters.size - q) return 'lost';
    return 'pending';
  }

  /** Throws if `change` cannot be applied to this configuration (checked before proposing). */
  validate(change: ConfChange): void {
    if (change.type === 'bootstrap') {
      throw new InvalidArgumentError('change.type', 'bootstrap is only written when a cluster is created');
    }
    const node = change.node;
    if (typeof node !== 'string' || node === '')
      throw new InvalidArgumentError('change.node', 'node id is empty');
    switch (change.type) {
      case 'add-learner':
      case 'add-voter':
        if (this.voters.has(node)) throw new FailedPreconditionError(`${node} is already a voter`);
        if (change.type === 'add-learner' && this.learners.has(node)) {
          throw new FailedPreconditionError(`${node} is already a learner`);
        }
        return;
      case 'promote':
        if (!this.learners.has(node)) throw new FailedPreconditionError(`${node} is not a learner`);
        return;
      case 'remove':
        if (!this.isMember(node)) throw new FailedPreconditionError(`${node} is not a member`);
        if (this.voters.has(node) && this.voters.size === 1) {
          throw new FailedPreconditionError(`cannot remove ${node}, the last voter`);
        }
        return;
    }
  }

  /**
   * The configuration after `change`. A change that no longer fits (validated against an older
   * configuration) is a no-op, identically on every node since all apply the same sequence.
   */
  apply(change: ConfChange): Membership {
    if (change.type === 'bootstrap') return new Membership(change.conf);
    try {
      this.validate(change);
    } catch {
      return this;
    }
    const voters = new Set(this.voters);
    const learners = new Set(this.learners);
    switch (change.type) {
      case 'add-learner':
        learners.add(change.node);
        break;
      case 'add-voter':
      case 'promote':
        learners.delete(change.node);
        voters.add(change.node);
        break;
      case 'remove':
        voters.delete(change.node);
        learners.delete(change.node);
        break;
    }
    return new Membership({ voters: [...voters], learners: [...learners] });
  }
}
