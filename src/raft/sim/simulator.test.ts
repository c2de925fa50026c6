import { describe, expect, it } from 'vitest';
import { driverNodeFactory } from './driver-node.js';
import { failed, formatFailureDetail, summarize } from './report.js';
import { runSimulation, type SimulationOptions, type SimulationResult } from './simulator.js';

const run = (seed: number, extra: Partial<SimulationOptions> = {}): Promise<SimulationResult> =>
  runSimulation({ seed, nodes: 3, faultMs: 8_000, factory: driverNodeFactory, ...extra });

function explain(r: SimulationResult, nodes: number): string {
  return formatFailureDetail(summarize(r, nodes, 0));
}

describe('Raft simulation (real driver and core, WAL over SimFs)', () => {
  it('keeps every invariant and a linearizable history on a few seeds of 3 and 5 nodes', async () => {
    const cases: [number, number][] = [
      [1, 3],
      [2, 3],
      [3, 3],
      [4, 5],
      [5, 5],
    ];
    for (const [seed, nodes] of cases) {
      const r = await run(seed, { nodes });
      const s = summarize(r, nodes, 0);
      expect(failed(s), explain(r, nodes)).toBe(false);
      expect(r.linearizability.verdict).toBe('ok');
      // The run did real work under faults, or passing would prove little.
      expect(r.workload.ok).toBeGreaterThan(50);
      expect([...r.faults.values()].reduce((a, b) => a + b, 0)).toBeGreaterThan(3);
    }
  }, 120_000);

  it('replays a seed exactly: same seed, same event trace', async () => {
    const a = await run(11);
    const b = await run(11);
    const c = await run(12);
    expect(b.traceHash).toBe(a.traceHash);
    expect(b.events).toBe(a.events);
    expect(b.history).toEqual(a.history);
    expect(c.traceHash).not.toBe(a.traceHash);
  }, 60_000);

  it('lets a node whose recovery hit an injected fsync fault stop and restart on the healed disk (seed 121324)', async () => {
    const lines: string[] = [];
    const r = await run(121324, { faultMs: 15_000, log: (l) => lines.push(l) });
    // The run must really take that path, or it proves nothing.
    expect(
      lines.some((l) => /died \(recovery\): .*EIO/.test(l)),
      lines.join('\n'),
    ).toBe(true);
    expect(failed(summarize(r, 3, 0)), explain(r, 3)).toBe(false);
    expect(r.converged).toBe(true);
  }, 120_000);

  it('runs calm (no faults) with every client operation answered', async () => {
    const r = await run(7, { faults: false });
    expect(r.violations).toEqual([]);
    expect(r.workload.unknown).toBe(0);
    expect(r.workload.ok).toBe(r.workload.ops);
    expect(r.leadersElected).toBe(1);
  }, 60_000);
});

describe('the simulator catches deliberately broken systems', () => {
  it('finds non-linearizable histories when nodes serve reads from local state', async () => {
    let caught = 0;
    for (let seed = 1; seed <= 6 && caught === 0; seed++) {
      const r = await run(seed, { bug: 'stale-local-reads' });
      if (r.linearizability.verdict === 'illegal') {
        caught++;
        expect(r.linearizability.failure?.stuck).toMatch(/get\(/);
      }
    }
    expect(caught).toBeGreaterThan(0);
  }, 120_000);

  it('finds lost acknowledged entries when the disk acknowledges before it persists', async () => {
    let caught: SimulationResult | undefined;
    for (let seed = 1; seed <= 12 && !caught; seed++) {
      // Crash-heavy (including whole-cluster power losses), so unsynced "acknowledged" data is lost.
      const r = await run(seed, { bug: 'ack-before-fsync', faultMs: 15_000, crashBias: 0.6 });
      if (r.violations.length > 0 || r.linearizability.verdict === 'illegal') caught = r;
    }
    expect(caught, 'no seed caught the lying disk').toBeDefined();
  }, 180_000);
});
