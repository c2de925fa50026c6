import { describe, expect, it } from 'vitest';
import type { Endpoint, NetworkId, Task, TaskId } from '../../../api/index.js';
import { ManualClock, noopLogger } from '../../../common/index.js';
import { drainBeforeStop, meshBackendAddresses } from './mesh-drain.js';

const LIVE =
  'ipv4     2 tcp      6 431999 ESTABLISHED src=10.213.9.1 dst=10.213.9.3 sport=41060 dport=8080 src=10.0.0.12 dst=10.213.9.1 sport=80 dport=28937 [ASSURED] mark=0 zone=0 use=2\n';

function task(endpoint: Endpoint | undefined, stopGracePeriodMs?: number): Task {
  const t = {
    id: 't1' as TaskId,
    spec: { container: { image: 'web', ...(stopGracePeriodMs !== undefined && { stopGracePeriodMs }) } },
    networks: [{ networkId: 'ingress' as NetworkId, addresses: ['10.0.0.12/24'] }],
    ...(endpoint && { endpoint }),
  };
  // Only the fields the drain reads.
  return t as unknown as Task;
}

const ingress: Endpoint = {
  spec: { mode: 'vip' },
  ports: [{ protocol: 'tcp', targetPort: 80, publishedPort: 8080, publishMode: 'ingress' }],
  virtualIps: [],
};

describe('meshBackendAddresses', () => {
  it('names the overlay addresses of a task with an ingress port or a VIP, none otherwise', () => {
    expect(meshBackendAddresses(task(ingress))).toEqual(['10.0.0.12']);
    const vip: Endpoint = {
      spec: { mode: 'vip' },
      ports: [],
      virtualIps: [{ networkId: 'n' as NetworkId, addr: '10.0.1.2/24' }],
    };
    expect(meshBackendAddresses(task(vip))).toEqual(['10.0.0.12']);
    const hostOnly: Endpoint = {
      spec: { mode: 'dnsrr' },
      ports: [{ protocol: 'tcp', targetPort: 80, publishedPort: 8080, publishMode: 'host' }],
      virtualIps: [],
    };
    expect(meshBackendAddresses(task(hostOnly))).toEqual([]);
    expect(meshBackendAddresses(task(undefined))).toEqual([]);
  });
});

/** A conntrack reader that always returns `text`, and how many times it was read. */
function counting(text: string): { read: () => Promise<string>; reads: () => number } {
  let n = 0;
  return {
    read: async () => {
      n++;
      return text;
    },
    reads: () => n,
  };
}

describe('drainBeforeStop', () => {
  it('waits no longer than the task stop grace when that is below the drain limit', async () => {
    const clock = new ManualClock();
    const { read, reads } = counting(LIVE);
    let done = false;
    const p = drainBeforeStop(
      task(ingress, 100),
      { limitMs: 2000, read },
      { clock, logger: noopLogger },
    ).then(() => {
      done = true;
    });
    for (let i = 0; i < 100 && !done; i++) {
      for (let j = 0; j < 10; j++) await Promise.resolve();
      if (!done) clock.advance(50);
    }
    await p;
    expect(clock.now()).toBe(100);
    expect(reads()).toBe(3);
  });

  it('reads nothing for a task that was no mesh backend or with draining off', async () => {
    const clock = new ManualClock();
    const { read, reads } = counting(LIVE);
    await drainBeforeStop(task(undefined), { limitMs: 2000, read }, { clock, logger: noopLogger });
    await drainBeforeStop(task(ingress), { limitMs: 0, read }, { clock, logger: noopLogger });
    expect(reads()).toBe(0);
  });

  it('purges the task addresses once drained, and a failed purge does not fail the stop', async () => {
    const clock = new ManualClock();
    const read = async (): Promise<string> => '';
    const purged: string[][] = [];
    await drainBeforeStop(
      task(ingress),
      {
        limitMs: 2000,
        read,
        purge: async (a) => {
          purged.push([...a]);
          return { deleted: 3, available: true };
        },
      },
      { clock, logger: noopLogger },
    );
    expect(purged).toEqual([['10.0.0.12']]);
    await expect(
      drainBeforeStop(
        task(ingress),
        {
          limitMs: 2000,
          read,
          purge: async () => {
            throw new Error('conntrack failed');
          },
        },
        { clock, logger: noopLogger },
      ),
    ).resolves.toBeUndefined();
  });

  it('does not purge for a task that was no mesh backend or once aborted; with the wait off it still purges', async () => {
    const clock = new ManualClock();
    const read = async (): Promise<string> => '';
    let purges = 0;
    const purge = async (): Promise<{ deleted: number; available: boolean }> => {
      purges++;
      return { deleted: 0, available: true };
    };
    await drainBeforeStop(task(undefined), { limitMs: 2000, read, purge }, { clock, logger: noopLogger });
    await drainBeforeStop(
      task(ingress),
      { limitMs: 2000, read, purge },
      { clock, logger: noopLogger },
      AbortSignal.abort(),
    );
    expect(purges).toBe(0);
    await drainBeforeStop(task(ingress), { limitMs: 0, read, purge }, { clock, logger: noopLogger });
    expect(purges).toBe(1);
  });
});
