/**
 * What one sequential request/response costs on loopback, by transport, without Raft: the floor
 * under bench:raft's concurrency-1 latency. A server process (this file with `--serve`) answers a
 * TCP echo, a bare HTTP/2 server that speaks gRPC framing, and our RpcServer with a Put that does
 * nothing; etcd runs as one member with --unsafe-no-fsync, so that its Put is a whole
 * Raft round (propose, WAL write, apply) minus the disk.
 *   node --import tsx scripts/bench/rpc-floor.ts [--calls 5000]
 * Each path is warmed with as many calls first: grpc-js code is still being optimised after a few
 * thousand calls, and a cold path measured ~50 % slower.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { noopLogger } from '../../src/common/index.js';
import { frameMessage } from '../../src/rpc/framing.js';
import { ChannelCredentials, createClient, RpcServer, ServerCredentials } from '../../src/rpc/index.js';
import { KvService } from '../../test/harness/raft-kv/service.js';
import { integerOption } from './args.js';
import { startEtcd } from './etcd.js';
import { h2Unary, unaryHeaders } from './h2-unary.js';
import { freePortRun } from './ports.js';

const { values } = parseArgs({
  options: { serve: { type: 'boolean' }, calls: { type: 'string', default: '5000' } },
});

function listen(server: net.Server | http2.Http2Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)),
  );
}

async function serve(): Promise<void> {
  const rpc = new RpcServer({ logger: noopLogger }).addService(
    KvService,
    {
      Put: async () => ({ index: 1 }),
      Cas: async () => ({ index: 1, ok: true }),
      Get: async () => ({ value: null, index: 1 }),
      Status: async () => {
        throw new Error('not served');
      },
      TransferLeader: async () => ({}),
    },
    () => {},
  );
  const grpcPort = await rpc.bind('127.0.0.1:0', ServerCredentials.createInsecure());
  void rpc.run(new AbortController().signal);
  const tcp = net.createServer((s) => {
    s.setNoDelay(true);
    s.on('data', (d) => s.write(d));
  });
  const reply = frameMessage(Buffer.from('{"index":1}'));
  const h2 = http2.createServer();
  h2.on('stream', (stream) => {
    stream.on('data', () => {});
    stream.on('end', () => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(reply);
    });
  });
  process.stdout.write(`${grpcPort} ${await listen(tcp)} ${await listen(h2)}\n`);
  // The parent holds our stdin: when it goes, so do we.
  process.stdin.on('close', () => process.exit(0));
  process.stdin.resume();
}

async function measure(name: string, calls: number, op: () => Promise<unknown>): Promise<void> {
  for (let i = 0; i < calls; i++) await op();
  const us: number[] = [];
  for (let i = 0; i < calls; i++) {
    const t0 = process.hrtime.bigint();
    await op();
    us.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  us.sort((a, b) => a - b);
  const at = (q: number): string => us[Math.floor(us.length * q)]!.toFixed(0).padStart(5);
  process.stdout.write(`${name.padEnd(48)} p50 ${at(0.5)} µs  p90 ${at(0.9)} µs\n`);
}

function tcpEcho(port: number): Promise<{ op: () => Promise<void>; close(): void }> {
  const s = net.connect(port, '127.0.0.1');
  s.setNoDelay(true);
  const msg = Buffer.alloc(300);
  let want = 0;
  let done: (() => void) | undefined;
  s.on('data', (d) => {
    want -= d.length;
    if (want <= 0) done?.();
  });
  return new Promise((resolve) =>
    s.once('connect', () =>
      resolve({
        op: () =>
          new Promise<void>((r) => {
            want = msg.length;
            done = r;
            s.write(msg);
          }),
        close: () => s.destroy(),
      }),
    ),
  );
}

async function main(): Promise<void> {
  const calls = integerOption('calls', values.calls);
  const dir = mkdtempSync(join(tmpdir(), 'rpc-floor-'));
  const server = spawn(process.execPath, ['--import', 'tsx', import.meta.filename, '--serve'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const etcd = await startEtcd(join(dir, 'etcd'), await freePortRun(24800, 2), 1, {
    members: 1,
    extraArgs: ['--unsafe-no-fsync'],
  });
  try {
    const line = await new Promise<string>((r) => server.stdout!.once('data', (d) => r(String(d))));
    const [grpcPort, tcpPort, h2Port] = line.trim().split(' ').map(Number) as [number, number, number];
    const value = 'x'.repeat(256);
    const body = Buffer.from(JSON.stringify({ key: 'k', value }));
    const insecure = ChannelCredentials.createInsecure();
    const opts = { timeoutMs: 10_000 };

    const tcp = await tcpEcho(tcpPort);
    await measure('TCP echo, 300 B', calls, tcp.op);
    tcp.close();

    const bare = http2.connect(`http://127.0.0.1:${h2Port}`);
    await measure('bare HTTP/2 client -> bare HTTP/2 server', calls, () =>
      h2Unary(bare, unaryHeaders('/x/Put'), body),
    );
    bare.close();

    const toBare = createClient(KvService, `127.0.0.1:${h2Port}`, insecure);
    await measure('grpc-js client -> bare HTTP/2 server', calls, () =>
      toBare.call.Put({ key: 'k', value }, opts),
    );
    toBare.close();

    const bareToGrpc = http2.connect(`http://127.0.0.1:${grpcPort}`);
    await measure('bare HTTP/2 client -> RpcServer', calls, () =>
      h2Unary(bareToGrpc, unaryHeaders('/swarmctl.test.KV/Put'), body),
    );
    bareToGrpc.close();

    const grpc = createClient(KvService, `127.0.0.1:${grpcPort}`, insecure);
    await measure('grpc-js client -> RpcServer', calls, () => grpc.call.Put({ key: 'k', value }, opts));
    grpc.close();

    const key = Buffer.from('k');
    const v = Buffer.from(value);
    await measure('grpc-js client -> etcd Put (1 member, no fsync)', calls, () => etcd.put(0, key, v));
  } finally {
    server.stdin!.destroy();
    await etcd.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (values.serve) await serve();
else await main();
