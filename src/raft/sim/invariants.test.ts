import { describe, expect, it } from 'vitest';
import type { NodeView } from './invariants.js';
import { InvariantChecker } from './invariants.js';

/** A node whose log is a list of terms; entry i has digest `t<term>-<i>` unless overridden. */
function view(
  id: string,
  state: Partial<Omit<NodeView, 'termAt' | 'digestAt' | 'lastIndex'>> & { log: number[]; digests?: string[] },
): NodeView {
  const log = state.log;
  return {
    id,
    incarnation: state.incarnation ?? 0,
    isLeader: state.isLeader ?? false,
    term: state.term ?? 1,
    vote: state.vote ?? null,
    commit: state.commit ?? 0,
    snapshotIndex: state.snapshotIndex ?? 0,
    lastIndex: log.length,
    termAt: (i) => log[i - 1],
    digestAt: (i) =>
      i >= 1 && i <= log.length ? (state.digests?.[i - 1] ?? `t${log[i - 1]}-${i}`) : undefined,
  };
}

const checker = (): InvariantChecker => new InvariantChecker(() => 0);

describe('InvariantChecker', () => {
  it('accepts a healthy sequence of observations', () => {
    const c = checker();
    c.observe([
      view('a', { isLeader: true, term: 1, vote: 'a', log: [1, 1], commit: 2 }),
      view('b', { log: [1] }),
    ]);
    c.observe([
      view('a', { isLeader: true, term: 1, vote: 'a', log: [1, 1, 1], commit: 3 }),
      view('b', { log: [1, 1, 1], commit: 3 }),
    ]);
    c.onApplied('a', 1, 'x');
    c.onApplied('b', 1, 'x');
    c.onApplied('a', 2, 'y');
    expect(c.violations).toEqual([]);
    expect(c.leadersElected).toBe(1);
    expect(c.maxCommitted).toBe(3);
  });

  it('flags two leaders in one term', () => {
    const c = checker();
    c.observe([
      view('a', { isLeader: true, term: 2, log: [] }),
      view('b', { isLeader: true, term: 2, log: [] }),
    ]);
    expect(c.violations.map((v) => v.kind)).toEqual(['two-leaders']);
  });

  it('flags a term going back, a vote changing within a term and commit going back, but not across restarts', () => {
    const c = checker();
    c.observe([view('a', { term: 3, vote: 'b', commit: 2, log: [1, 1] })]);
    c.observe([view('a', { term: 2, vote: 'b', commit: 2, log: [1, 1] })]);
    c.observe([view('a', { term: 2, vote: 'c', commit: 1, log: [1, 1] })]);
    expect(c.violations.map((v) => v.kind)).toEqual(['term-decreased', 'vote-changed', 'commit-decreased']);
    c.observe([view('a', { incarnation: 1, term: 2, vote: null, commit: 0, log: [1, 1] })]);
    expect(c.violations).toHaveLength(3);
  });

  it('flags a commit index beyond the log', () => {
    const c = checker();
    c.observe([view('a', { commit: 3, log: [1] })]);
    expect(c.violations.map((v) => v.kind)).toEqual(['commit-beyond-log']);
  });

  it('flags two nodes committing different entries at one index, but not stale uncommitted tails', () => {
    const c = checker();
    c.observe([view('a', { commit: 2, log: [1, 1] }), view('b', { commit: 1, log: [1, 2] })]);
    expect(c.violations).toEqual([]);
    c.observe([view('a', { commit: 2, log: [1, 1] }), view('b', { commit: 2, log: [1, 2] })]);
    expect(c.violations.map((v) => v.kind)).toEqual(['log-matching']);
  });

  it('flags a leader whose log lacks a committed entry', () => {
    const c = checker();
    c.observe([view('a', { term: 1, commit: 3, log: [1, 1, 1] })]);
    c.observe([view('b', { term: 2, isLeader: true, log: [1, 1] })]);
    expect(c.violations.map((v) => v.kind)).toEqual(['leader-completeness']);
  });

  it('does not hold entries committed in its own or a later term against a leader observed late', () => {
    const c = checker();
    // b won term 2 but was paused before anyone saw it; a, in term 3, committed entry 2 meanwhile.
    c.observe([view('a', { term: 3, commit: 2, log: [1, 3] })]);
    c.observe([view('b', { term: 2, isLeader: true, log: [1, 2] })]);
    expect(c.violations).toEqual([]);
    c.observe([view('c', { term: 4, isLeader: true, log: [1, 2] })]);
    expect(c.violations.map((v) => v.kind)).toEqual(['leader-completeness']);
  });

  it('does not require a leader to hold entries compacted into its snapshot', () => {
    const c = checker();
    c.observe([view('a', { term: 1, commit: 2, log: [1, 1] })]);
    c.observe([view('b', { term: 2, isLeader: true, snapshotIndex: 2, log: [1, 1] })]);
    expect(c.violations).toEqual([]);
  });

  it('flags different commands applied at one index and applies that go backwards', () => {
    const c = checker();
    c.onApplied('a', 1, 'x');
    c.onApplied('b', 1, 'y');
    c.onApplied('a', 3, 'z');
    c.onApplied('a', 2, 'w');
    expect(c.violations.map((v) => v.kind)).toEqual(['state-machine-safety', 'apply-order']);
  });

  it('lets a node resume applying after a snapshot restore or a crash', () => {
    const c = checker();
    c.onApplied('a', 1, 'x');
    c.onRestored('a');
    c.onApplied('a', 11, 'y');
    c.onCrash('a');
    c.onApplied('a', 5, 'q');
    expect(c.violations).toEqual([]);
  });
});
