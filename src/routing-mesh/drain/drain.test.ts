import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, ManualClock, noopLogger } from '../../common/index.js';
import { liveConnectionsTo, parseConntrack } from './conntrack.js';
import { DRAIN_LIMIT_MS, DRAIN_POLL_MS, drainConnections, resolveDrainLimit } from './drain.js';

const BACKEND = '10.0.0.12';
// Lines as this kernel writes them (/proc/net/nf_conntrack, nf_conntrack with acct off).
const DNATED =
  'ipv4     2 tcp      6 431999 ESTABLISHED src=10.213.9.1 dst=10.213.9.3 sport=41060 dport=8080 src=10.0.0.12 dst=10.213.9.1 sport=80 dport=28937 [ASSURED] mark=65539 zone=0 use=2';
const BRIDGED_SYN =
  'ipv4     2 tcp      6 58 SYN_RECV src=10.213.9.1 dst=10.0.0.12 sport=28937 dport=80 src=10.0.0.12 dst=10.213.9.1 sport=80 dport=28937 mark=0 zone=0 use=2';
const UNREPLIED =
  'ipv4     2 tcp      6 118 SYN_SENT src=10.213.9.2 dst=10.0.0.12 sport=40000 dport=80 [UNREPLIED] src=10.0.0.12 dst=10.213.9.2 sport=80 dport=40000 mark=0 zone=0 use=2';
const TIME_WAIT =
  'ipv4     2 tcp      6 117 TIME_WAIT src=10.213.9.1 dst=10.213.9.3 sport=41061 dport=8080 src=10.0.0.12 dst=10.213.9.1 sport=80 dport=28938 [ASSURED] mark=0 zone=0 use=2';
const OTHER_BACKEND =
  'ipv4     2 tcp      6 431999 ESTABLISHED src=10.213.9.1 dst=10.213.9.3 sport=41062 dport=8080 src=10.0.0.13 dst=10.213.9.1 sport=80 dport=28939 [ASSURED] mark=0 zone=0 use=2';
const UDP =
  'ipv4     2 udp      17 28 src=10.0.0.12 dst=10.0.0.2 sport=40001 dport=53 src=10.0.0.2 dst=10.0.0.12 sport=53 dport=40001 mark=0 zone=0 use=2';
const IGMP =
  'ipv4     2 unknown  2 198 src=10.0.0.2 dst=224.0.0.22 [UNREPLIED] src=224.0.0.22 dst=10.0.0.2 mark=0 zone=0 use=2';

async function flush(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

function table(...lines: string[]): string {
  return `${lines.join('\n')}\n`;
}

describe('parseConntrack', () => {
  it('reads both tuples of TCP entries and skips other protocols', () => {
    const entries = parseConntrack(table(DNATED, UNREPLIED, UDP, IGMP, ''));
    expect(entries).toEqual([
      {
        state: 'ESTABLISHED',
        origSrc: '10.213.9.1',
        origDst: '10.213.9.3',
        replySrc: '10.0.0.12',
        replyDst: '10.213.9.1',
      },
      {
        state: 'SYN_SENT',
        origSrc: '10.213.9.2',
        origDst: '10.0.0.12',
        replySrc: '10.0.0.12',
        replyDst: '10.213.9.2',
      },
    ]);
  });

  it('counts connections DNATed to the backend and those dialled to it, only while live', () => {
    const entries = parseConntrack(table(DNATED, BRIDGED_SYN, UNREPLIED, TIME_WAIT, OTHER_BACKEND, UDP));
    const live = liveConnectionsTo(entries, new Set([BACKEND]));
    expect(live.map((e) => e.state)).toEqual(['ESTABLISHED', 'SYN_RECV', 'SYN_SENT']);
  });
});

describe('drainConnections', () => {
  function reader(texts: (string | undefined)[]): {
    read: () => Promise<string | undefined>;
    reads: () => number;
  } {
    let n = 0;
    return {
      read: async () => texts[Math.min(n++, texts.length - 1)],
      reads: () => n,
    };
  }

  /** Runs the drain while moving the clock one poll at a time until it settles. */
  async function run(
    clock: ManualClock,
    p: Promise<{ waitedMs: number; remaining: number }>,
  ): Promise<{ waitedMs: number; remaining: number }> {
    let settled = false;
    void p.finally(() => {
      settled = true;
    });
    // Steps of 25 ms land on every timer the tests set (polls of 50 ms, a limit of 275 ms).
    for (let i = 0; i < 1000 && !settled; i++) {
      await flush();
      if (!settled) clock.advance(25);
    }
    return p;
  }

  it('returns after one read when no connection is open', async () => {
    const clock = new ManualClock();
    const r = reader([table(TIME_WAIT, OTHER_BACKEND)]);
    const result = await drainConnections([BACKEND], 2000, { clock, read: r.read, logger: noopLogger });
    expect(result).toEqual({ waitedMs: 0, remaining: 0 });
    expect(r.reads()).toBe(1);
    expect(clock.pendingTimers()).toBe(0);
  });

  it('does not wait when there is no table to read', async () => {
    const clock = new ManualClock();
    const result = await drainConnections([BACKEND], 2000, {
      clock,
      read: async () => undefined,
      logger: noopLogger,
    });
    expect(result).toEqual({ waitedMs: 0, remaining: 0 });
  });

  it('waits while connections remain and returns once they have closed', async () => {
    const clock = new ManualClock();
    const r = reader([table(DNATED, BRIDGED_SYN), table(DNATED), table(DNATED), table(TIME_WAIT)]);
    const result = await run(
      clock,
      drainConnections([BACKEND], 2000, { clock, read: r.read, logger: noopLogger }),
    );
    expect(result).toEqual({ waitedMs: 3 * DRAIN_POLL_MS, remaining: 0 });
    expect(r.reads()).toBe(4);
  });

  it('gives up at the limit with the connections still open', async () => {
    const clock = new ManualClock();
    const r = reader([table(DNATED, UNREPLIED)]);
    const result = await run(
      clock,
      drainConnections([BACKEND], 275, { clock, read: r.read, logger: noopLogger }),
    );
    expect(result).toEqual({ waitedMs: 275, remaining: 2 });
    // The first read, then one per poll: 50, 100, …, 250 and the last at 275.
    expect(r.reads()).toBe(7);
  });

  it('ends the wait when the signal is aborted', async () => {
    const clock = new ManualClock();
    const ac = new AbortController();
    const r = reader([table(DNATED)]);
    const p = drainConnections([BACKEND], 2000, { clock, read: r.read, logger: noopLogger }, ac.signal);
    await flush();
    clock.advance(DRAIN_POLL_MS);
    await flush();
    ac.abort();
    const result = await p;
    expect(result.remaining).toBe(1);
    expect(result.waitedMs).toBeLessThan(2000);
    expect(clock.pendingTimers()).toBe(0);
  });

  it('does nothing for no address or a zero limit', async () => {
    const clock = new ManualClock();
    const r = reader([table(DNATED)]);
    expect(await drainConnections([], 2000, { clock, read: r.read, logger: noopLogger })).toEqual({
      waitedMs: 0,
      remaining: 0,
    });
    expect(await drainConnections([BACKEND], 0, { clock, read: r.read, logger: noopLogger })).toEqual({
      waitedMs: 0,
      remaining: 0,
    });
    expect(r.reads()).toBe(0);
  });
});

describe('resolveDrainLimit', () => {
  it('defaults, accepts 0 and whole milliseconds, refuses the rest naming the field', () => {
    expect(resolveDrainLimit(undefined)).toBe(DRAIN_LIMIT_MS);
    expect(resolveDrainLimit(0)).toBe(0);
    expect(resolveDrainLimit(500)).toBe(500);
    for (const bad of [-1, 1.5, 600_001, Number.NaN]) {
      let caught: unknown;
      try {
        resolveDrainLimit(bad);
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(InvalidArgumentError);
      expect((caught as InvalidArgumentError).field).toBe('drainLimitMs');
    }
  });
});
