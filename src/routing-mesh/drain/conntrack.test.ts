import { once } from 'node:events';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { noopLogger, systemClock } from '../../common/index.js';
import { liveConnectionsTo, parseConntrack, procConntrackReader } from './conntrack.js';
import { drainConnections } from './drain.js';

// An address of the loopback range no other test uses: its entries are this test's own.
const ADDR = '127.83.6.1';
const open: { close(): void }[] = [];

afterEach(() => {
  for (const o of open.splice(0)) o.close();
});

async function connection(): Promise<{ client: Socket; accepted: Promise<Socket> }> {
  const server = createServer();
  open.push(server);
  const accepted = once(server, 'connection').then(([s]) => s as Socket);
  server.listen(0, ADDR);
  await once(server, 'listening');
  const client = connect((server.address() as AddressInfo).port, ADDR);
  open.push({ close: () => client.destroy() });
  await once(client, 'connect');
  return { client, accepted };
}

describe('the kernel conntrack table (this process namespace)', () => {
  it('shows an open TCP connection and the drain waits for it until the limit, then not once it closed', async () => {
    const text = await procConntrackReader();
    // The test needs the table (root, nf_conntrack loaded): say so rather than pass vacuously.
    expect(text, 'no readable /proc/self/net/nf_conntrack').toBeDefined();
    const { client, accepted } = await connection();
    const server = await accepted;
    open.push({ close: () => server.destroy() });
    const live = liveConnectionsTo(parseConntrack((await procConntrackReader()) ?? ''), new Set([ADDR]));
    expect(live.map((e) => e.state)).toContain('ESTABLISHED');

    const deps = { clock: systemClock, read: procConntrackReader, logger: noopLogger };
    const held = await drainConnections([ADDR], 300, deps);
    expect(held.remaining).toBeGreaterThan(0);
    expect(held.waitedMs).toBeGreaterThanOrEqual(300);

    client.end();
    server.end();
    await once(client, 'close');
    const drained = await drainConnections([ADDR], 5000, deps);
    expect(drained.remaining).toBe(0);
    expect(drained.waitedMs).toBeLessThan(5000);
  });
});
