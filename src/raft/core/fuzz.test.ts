import { describe, expect, it } from 'vitest';
import { SeededRandom } from '../../common/index.js';
import { TestCluster } from './test-cluster.js';

/**
 * Randomised safety check on the in-memory network: drops, partitions, crashes with restart from
 * durable state, compaction and leadership transfer, with invariants checked after every step.
 * (The full simulator with latency, reordering and a simulated disk is a separate layer.)
 */
function run(seed: number, size: number, steps: number): void {
  const rnd = new SeededRandom(seed);
  const ids = Array.from({ length: size }, (_, i) => `n${i}`);
  const c = new TestCluster(ids, { seed: seed * 8, options: { maxInflightMsgs: 4 } });
  c.reportSnapshots = true;
  const leaderOfTerm = new Map<number, string>();
  let dropRate = 0;
  c.filter = () => rnd.next() >= dropRate;
  let written = 0;
  const check = (): void => {
    for (const n of c.nodes.values()) {
      if (n.crashed || n.core.role !== 'leader') continue;
      const prev = leaderOfTerm.get(n.core.term);
      if (prev !== undefined) expect(prev, `two leaders in term ${n.core.term}`).toBe(n.core.id);
      leaderOfTerm.set(n.core.term, n.core.id);
    }
    const applied = [...c.nodes.values()].map((n) => n.applied);
    const longest = applied.reduce((a, b) => (b.length > a.length ? b : a), []);
    for (const a of applied) expect(a, 'applied sequences diverge').toEqual(longest.slice(0, a.length));
  };
  for (let step = 0; step < steps; step++) {
    const roll = rnd.next();
    const target = ids[rnd.int(0, size)]!;
    const leaders = c.leaders();
    if (roll < 0.4) c.tickAll(1);
    else if (roll < 0.6 && leaders.length > 0) {
      try {
        c.propose(leaders[0]!, `v${written++}`);
      } catch {
        // refused (transfer, back-pressure): fine
      }
    } else if (roll < 0.65) c.isolate(target);
    else if (roll < 0.72) {
      c.heal();
      c.filter = () => rnd.next() >= dropRate;
    } else if (roll < 0.75) dropRate = rnd.next() < 0.5 ? 0 : 0.2;
    else if (roll < 0.78 && !c.node(target).crashed) c.crash(target);
    else if (roll < 0.83 && c.node(target).crashed) c.restart(target);
    else if (roll < 0.85 && !c.node(target).crashed && c.node(target).appliedIndex > 5) c.compact(target, 2);
    else if (roll < 0.87 && leaders.length > 0 && leaders[0] !== target) {
      try {
        c.core(leaders[0]!).transferLeadership(target);
        c.process(leaders[0]!);
      } catch {
        // target not a voter: fine
      }
    } else if (roll < 0.9 && leaders.length > 0) {
      membershipStep(c, leaders[0]!, rnd, ids);
    } else c.stabilize();
    check();
  }
  // Heal everything: a leader emerges and every member converges on the same applied sequence.
  for (const id of ids) if (c.node(id).crashed) c.restart(id);
  c.heal();
  c.tickAll(60);
  expect(c.leaders()).toHaveLength(1);
  c.propose(c.leader(), 'final');
  c.tickAll(5);
  check();
  const final = c.node(c.leader()).applied;
  expect(final.at(-1)).toBe('final');
  const members = c.core(c.leader()).status().conf;
  for (const id of [...members.voters, ...members.learners]) expect(c.node(id).applied).toEqual(final);
}

/** Adds a learner (a fresh node), promotes a caught-up learner, or removes a voter (keeping ≥ 3). */
function membershipStep(c: TestCluster, leader: string, rnd: SeededRandom, ids: string[]): void {
  const conf = c.core(leader).status().conf;
  const kind = rnd.int(0, 3);
  try {
    if (kind === 0 && ids.length < 9) {
      const id = `m${ids.length}`;
      c.addNode(id, TestCluster.emptyState(), 500 + ids.length);
      ids.push(id);
      c.core(leader).proposeConfChange({ type: 'add-learner', node: id });
    } else if (kind === 1 && conf.learners.length > 0) {
      c.core(leader).proposeConfChange({ type: 'promote', node: conf.learners[0]! });
    } else if (kind === 2 && conf.voters.length > 3) {
      const victim = conf.voters[rnd.int(0, conf.voters.length)]!;
      c.core(leader).proposeConfChange({ type: 'remove', node: victim });
    }
    c.process(leader);
  } catch {
    // Refused (pending change, not caught up, new leader): fine.
  }
}

describe('randomised safety on the in-memory network', () => {
  it('keeps one leader per term and identical applied prefixes over 150 seeds (3 and 5 nodes)', () => {
    for (let seed = 1; seed <= 100; seed++) run(seed, 3, 250);
    for (let seed = 101; seed <= 150; seed++) run(seed, 5, 250);
  });
});
