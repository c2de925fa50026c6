import { type ChildProcess, spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../common/index.js';
import { type CommandRunner, systemCommandRunner } from '../data-plane/command-runner.js';
import { netlinkDelete, netlinkDump, netlinkPurger } from './netlink-purge.js';

// A network namespace of this test's own: its conntrack table and NAT rules touch nothing else.
const NS = `swpurge-${process.pid}`;
const inNs: CommandRunner = (argv, input) =>
  systemCommandRunner(['nsenter', `--net=/run/netns/${NS}`, '--', ...argv], input);
const CLIENT_PORT = 41_234;
const children: ChildProcess[] = [];

/** Node code run inside the namespace: `node -e`, so no file is needed. */
function nodeInNs(code: string): ChildProcess {
  const p = spawn('nsenter', [`--net=/run/netns/${NS}`, '--', process.execPath, '-e', code], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(p);
  return p;
}

function dnatTo(addr: string): string {
  return `table ip purge {}\ndelete table ip purge\ntable ip purge {\n  chain out { type nat hook output priority -100; policy accept; tcp dport 7000 dnat to ${addr}:7001; }\n}\n`;
}

async function entries(): Promise<string[]> {
  const r = await inNs(['cat', '/proc/self/net/nf_conntrack']);
  return r.stdout.split('\n').filter((l) => l.includes(`sport=${CLIENT_PORT} `));
}

beforeAll(async () => {
  for (const argv of [
    ['ip', 'netns', 'add', NS],
    ['ip', '-n', NS, 'link', 'set', 'lo', 'up'],
  ]) {
    const r = await systemCommandRunner(argv);
    expect(r.code, `${argv.join(' ')}: ${r.stderr}`).toBe(0);
  }
  // Two backends, each answering one byte and closing first (their side keeps the TIME_WAIT).
  const servers = nodeInNs(
    `const net=require('net');for(const a of ['127.0.0.2','127.0.0.3'])net.createServer(c=>c.end(a)).listen(7001,a,()=>console.log('listening',a));`,
  );
  let out = '';
  servers.stdout?.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  await waitFor(
    () => (out.split('listening').length === 3 ? { done: true, value: 0 } : { done: false, state: out }),
    {
      timeoutMs: 10_000,
      intervalMs: 20,
      what: 'both backends listening',
    },
  );
});

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await systemCommandRunner(['ip', 'netns', 'del', NS]);
});

describe('netlinkPurger (python3, ctnetlink)', () => {
  it('deletes a stale entry by its reply tuple, never the live entry that reuses its original tuple', async () => {
    // The published port (7000) DNATed to backend .2; one request from a fixed client port.
    expect((await inNs(['nft', '-f', '-'], dnatTo('127.0.0.2'))).code).toBe(0);
    const first = nodeInNs(
      `const c=require('net').connect({port:7000,host:'127.0.0.1',localPort:${CLIENT_PORT}});c.on('data',d=>process.stdout.write(d));c.on('end',()=>c.end());`,
    );
    await new Promise((r) => first.on('exit', r));
    const stale = await entries();
    expect(stale.join('\n')).toMatch(/TIME_WAIT .* src=127\.0\.0\.2 dst=127\.0\.0\.1 sport=7001/);

    // What a purge of backend .2 would delete, read now; then .2 leaves the rotation and the
    // client reuses its port: the kernel replaces the TIME_WAIT entry by a live one to .3.
    const victims = await netlinkDump(inNs, ['127.0.0.2']);
    expect(victims).toHaveLength(1);
    expect((await inNs(['nft', '-f', '-'], dnatTo('127.0.0.3'))).code).toBe(0);
    const second = nodeInNs(
      `const c=require('net').connect({port:7000,host:'127.0.0.1',localPort:${CLIENT_PORT}});c.on('connect',()=>console.log('up'));c.on('data',()=>{});`,
    );
    let up = '';
    second.stdout?.setEncoding('utf8').on('data', (d: string) => {
      up += d;
    });
    await waitFor(() => (up.includes('up') ? { done: true, value: 0 } : { done: false, state: up }), {
      timeoutMs: 10_000,
      intervalMs: 20,
      what: 'the second connection',
    });
    const live = (await entries()).join('\n');
    expect(live).toMatch(/src=127\.0\.0\.3 dst=127\.0\.0\.1 sport=7001/);

    // The delete of the stale entry, by reply tuple: nothing matches it any more, the live one stays.
    expect(await netlinkDelete(inNs, victims)).toBe(0);
    expect((await entries()).join('\n')).toMatch(/src=127\.0\.0\.3 dst=127\.0\.0\.1 sport=7001/);

    // A delete by original tuple (what Docker and conntrack-tools send) would have taken the live one.
    await inNs(['conntrack', '-D', '-p', 'tcp', '--orig-port-src', String(CLIENT_PORT)]);
    expect(await entries()).toEqual([]);
  });

  it("purges a stopping backend's entries and leaves the others'", async () => {
    expect((await inNs(['nft', '-f', '-'], dnatTo('127.0.0.2'))).code).toBe(0);
    const once = nodeInNs(
      `const c=require('net').connect({port:7000,host:'127.0.0.1',localPort:${CLIENT_PORT + 1}});c.on('data',()=>{});c.on('end',()=>c.end());`,
    );
    await new Promise((r) => once.on('exit', r));
    const direct = nodeInNs(
      `const c=require('net').connect({port:7001,host:'127.0.0.3',localPort:${CLIENT_PORT + 2}});c.on('data',()=>{});c.on('end',()=>c.end());`,
    );
    await new Promise((r) => direct.on('exit', r));
    const purge = netlinkPurger(inNs);
    expect(await purge(['127.0.0.2'])).toEqual({ deleted: 1, available: true });
    const left = (await inNs(['cat', '/proc/self/net/nf_conntrack'])).stdout;
    expect(left).not.toContain('src=127.0.0.2 ');
    expect(left).toContain(`sport=${CLIENT_PORT + 2} `);
  });

  it('says python3 is missing instead of failing', async () => {
    const missing: CommandRunner = async () => ({ code: 127, stdout: '', stderr: 'spawn python3 ENOENT' });
    expect(await netlinkPurger(missing)(['10.0.0.12'])).toEqual({ deleted: 0, available: false });
  });
});
