/**
 * A real Raft member as its own process, for the multi-process test and the benchmark: the
 * production driver, WAL storage (real files, fsync), gRPC transport and RPC server, with a small
 * KV state machine. Usage:
 *   node --import tsx test/harness/raft-kv/node.ts --id n1 --dir DIR --listen 127.0.0.1:P \
 *     --peers n1=127.0.0.1:P,n2=…,n3=… [--bootstrap] [--tick-ms 100] [--snapshot-every N] [--keep N]
 * Prints one line `ready <port>` on stdout once it serves; stops cleanly on SIGTERM.
 * Environment (benchmark variants): RAFT_KV_COMMIT_DELAY_MS sets the transport's commitDelayMs,
 * RAFT_KV_RECEIVE=pull its receive mode;
 * RAFT_KV_TIMELINE=1 records per-stage timestamps (timeline.ts).
 */
import { createHash } from 'node:crypto';
import { parseArgs } from 'node:util';
import { createLogger, jsonLineSink, SeededRandom, systemClock } from '../../../src/common/index.js';
import { RaftDriver } from '../../../src/raft/driver/index.js';
import type { KvOutput } from '../../../src/raft/sim/kv-model.js';
import { encodeKvCommand, KvStateMachine } from '../../../src/raft/sim/kv-state-machine.js';
import { WalStorage } from '../../../src/raft/storage/index.js';
import { GrpcTransport, RaftService } from '../../../src/raft/transport/index.js';
import { ChannelCredentials, RpcServer, ServerCredentials } from '../../../src/rpc/index.js';
import { KvService, type PutRequest } from './service.js';
import { dumpTimeline, mark, timedStorage, timedTransport } from './timeline.js';

const { values } = parseArgs({
  options: {
    id: { type: 'string' },
    dir: { type: 'string' },
    listen: { type: 'string' },
    peers: { type: 'string' },
    bootstrap: { type: 'boolean', default: false },
    'tick-ms': { type: 'string', default: '100' },
    'snapshot-every': { type: 'string', default: '10000' },
    keep: { type: 'string', default: '500' },
    'log-level': { type: 'string', default: 'warn' },
  },
});
const id = values.id!;
const peers = new Map(
  values.peers!.split(',').map((p) => {
    const [pid, addr] = p.split('=') as [string, string];
    return [pid, addr];
  }),
);
const logger = createLogger(
  jsonLineSink((l) => process.stderr.write(l)),
  {
    level: values['log-level'] as 'warn',
  },
).child({ 'node.id': id });

const timeline = process.env.RAFT_KV_TIMELINE === '1';
// Snapshots are encoded in slices between event-loop turns (35 MB took ~100 ms in one piece).
const kv = new KvStateMachine(undefined, undefined, () => new Promise((resolve) => setImmediate(resolve)));
const transport = new GrpcTransport(
  {
    self: id,
    clock: systemClock,
    logger,
    credentials: () => ChannelCredentials.createInsecure(),
  },
  {
    ...(process.env.RAFT_KV_COMMIT_DELAY_MS !== undefined
      ? { commitDelayMs: Number(process.env.RAFT_KV_COMMIT_DELAY_MS) }
      : {}),
    ...(process.env.RAFT_KV_RECEIVE === 'pull' ? { receive: 'pull' as const } : {}),
  },
);
for (const [pid, addr] of peers) if (pid !== id) transport.setPeer(pid, addr);
const driver = new RaftDriver<KvOutput | null>(
  {
    id,
    clock: systemClock,
    random: new SeededRandom(Date.now() ^ process.pid),
    storage: timeline
      ? timedStorage(new WalStorage(values.dir!, { logger }))
      : new WalStorage(values.dir!, { logger }),
    transport: timeline ? timedTransport(transport) : transport,
    stateMachine: kv,
    logger,
    defer: setImmediate,
  },
  {
    tickMs: Number(values['tick-ms']),
    snapshotEveryEntries: Number(values['snapshot-every']),
    keepEntriesAfterSnapshot: Number(values.keep),
    ...(values.bootstrap ? { bootstrap: { voters: [...peers.keys()], learners: [] } } : {}),
  },
);

const server = new RpcServer({ logger })
  .addService(RaftService, transport.handlers(), () => {})
  .addService(
    KvService,
    {
      Put: async (r) => {
        if (timeline) mark(`put ${r.key}`);
        const a = await driver.propose(
          encodeKvCommand({ kind: 'put', key: r.key, value: r.value }),
          sessionOf(r),
        );
        if (timeline) mark(`put-done ${r.key}`);
        return { index: a.index };
      },
      Cas: async (r) => {
        const a = await driver.propose(
          encodeKvCommand({ kind: 'cas', key: r.key, expected: r.expected, value: r.value }),
          sessionOf(r),
        );
        return { index: a.index, ok: a.result?.kind === 'cas' && a.result.ok };
      },
      Get: async (r) => {
        const at = await driver.readIndex();
        return { value: kv.read(r.key), index: at };
      },
      Status: async (r) => {
        const s = driver.status();
        return {
          id,
          role: s.role,
          leader: s.leader,
          term: s.term,
          commit: s.commit,
          applied: s.applied,
          firstIndex: s.firstIndex,
          lastIndex: s.lastIndex,
          ...(r.digest ? { digest: createHash('sha256').update(kv.fingerprint()).digest('hex') } : {}),
        };
      },
      TransferLeader: async (r) => {
        driver.transferLeadership(r.to);
        return {};
      },
    },
    () => {},
  );

function sessionOf(r: PutRequest): { session?: { clientId: string; seq: number } } {
  return r.clientId !== undefined && r.seq !== undefined
    ? { session: { clientId: r.clientId, seq: r.seq } }
    : {};
}

const stop = new AbortController();
process.once('SIGTERM', () => stop.abort());
process.once('SIGINT', () => stop.abort());
// The harness holds our stdin open: when it goes away (even killed), so do we.
process.stdin.on('close', () => stop.abort());
process.stdin.resume();
const port = await server.bind(values.listen!, ServerCredentials.createInsecure());
const running = Promise.all([transport.run(stop.signal), driver.run(stop.signal), server.run(stop.signal)]);
process.stdout.write(`ready ${port}\n`);
await running.catch((e: unknown) => {
  process.stderr.write(`raft-kv node failed: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exitCode = 1;
});
dumpTimeline((l) => process.stderr.write(l));
// Everything we own has stopped; the open stdin pipe would keep the process alive otherwise.
process.stdin.destroy();
