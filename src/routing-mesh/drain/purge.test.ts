import { once } from 'node:events';
import { type AddressInfo, connect, createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { SwarmError } from '../../common/index.js';
import type { CommandResult } from '../data-plane/command-runner.js';
import { parseConntrack, procConntrackReader } from './conntrack.js';
import { conntrackCliPurger } from './purge.js';

function runner(results: CommandResult[]): {
  calls: string[][];
  run: (argv: readonly string[]) => Promise<CommandResult>;
} {
  const calls: string[][] = [];
  return {
    calls,
    run: async (argv) => {
      calls.push([...argv]);
      return results.shift() ?? { code: 0, stdout: '', stderr: '' };
    },
  };
}

describe('conntrackCliPurger', () => {
  it('deletes by reply source per address and adds up the counts conntrack reports', async () => {
    const r = runner([
      {
        code: 0,
        stdout: '',
        stderr: 'conntrack v1.4.7 (conntrack-tools): 12 flow entries have been deleted.\n',
      },
      // conntrack exits 1 when nothing matched: not a failure.
      {
        code: 1,
        stdout: '',
        stderr: 'conntrack v1.4.7 (conntrack-tools): 0 flow entries have been deleted.\n',
      },
    ]);
    expect(await conntrackCliPurger(r.run)(['10.0.0.12', '10.0.1.7'])).toEqual({
      deleted: 12,
      available: true,
    });
    expect(r.calls).toEqual([
      ['conntrack', '-D', '-p', 'tcp', '--reply-src', '10.0.0.12'],
      ['conntrack', '-D', '-p', 'tcp', '--reply-src', '10.0.1.7'],
    ]);
  });

  it('says the tool is missing instead of failing', async () => {
    const r = runner([{ code: 127, stdout: '', stderr: 'spawn conntrack ENOENT' }]);
    expect(await conntrackCliPurger(r.run)(['10.0.0.12'])).toEqual({ deleted: 0, available: false });
  });

  it('raises an IO error naming the address when conntrack fails otherwise', async () => {
    const r = runner([
      { code: 1, stdout: '', stderr: 'conntrack v1.4.7 (conntrack-tools): Operation not permitted\n' },
    ]);
    const caught = await conntrackCliPurger(r.run)(['10.0.0.12']).catch((e: unknown) => e);
    expect(caught).toBeInstanceOf(SwarmError);
    expect((caught as SwarmError).code).toBe('IO');
    expect((caught as SwarmError).message).toContain('10.0.0.12');
  });
});

// Loopback addresses no other test uses: their entries are this test's own.
const GONE = '127.83.7.1';
const KEPT = '127.83.7.2';

/** One request-and-close connection to a server on `addr`: it leaves a TIME_WAIT entry. */
async function closedConnection(addr: string): Promise<void> {
  const server = createServer((s) => s.end('x'));
  server.listen(0, addr);
  await once(server, 'listening');
  const client = connect((server.address() as AddressInfo).port, addr);
  client.resume();
  await once(client, 'close');
  server.close();
}

async function entriesTo(addr: string): Promise<string[]> {
  return parseConntrack((await procConntrackReader()) ?? '')
    .filter((e) => e.replySrc === addr)
    .map((e) => e.state);
}

describe('the kernel conntrack table (this process namespace) and conntrack-tools', () => {
  it("deletes the closed connections of a stopping backend's address and leaves the others", async () => {
    // The test needs the table and the tool (root, nf_conntrack, conntrack-tools): say so.
    expect(await procConntrackReader(), 'no readable /proc/self/net/nf_conntrack').toBeDefined();
    for (let i = 0; i < 3; i++) await closedConnection(GONE);
    await closedConnection(KEPT);
    expect((await entriesTo(GONE)).length).toBeGreaterThanOrEqual(3);

    const r = await conntrackCliPurger()([GONE]);
    expect(r.available, 'conntrack (conntrack-tools) is not installed').toBe(true);
    expect(r.deleted).toBeGreaterThanOrEqual(3);
    expect(await entriesTo(GONE)).toEqual([]);
    expect((await entriesTo(KEPT)).length).toBeGreaterThanOrEqual(1);
    await conntrackCliPurger()([KEPT]);
  });
});
