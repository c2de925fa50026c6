/**
 * The anchor: a 3-member etcd cluster (Debian's etcd-server) on loopback, driven through the same
 * gRPC client stack as ours. Put requests are hand-encoded protobuf (two fields), so no .proto
 * tooling is needed.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from '../../src/common/index.js';
import { ChannelCredentials, type Codec, createClient, defineService, unary } from '../../src/rpc/index.js';

function varint(n: number): Buffer {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return Buffer.from(out);
}

/** etcdserverpb.PutRequest: key = field 1, value = field 2 (both length-delimited). */
const putCodec: Codec<{ key: Buffer; value: Buffer }> = {
  encode: ({ key, value }) =>
    Buffer.concat([
      Buffer.from([0x0a]),
      varint(key.length),
      key,
      Buffer.from([0x12]),
      varint(value.length),
      value,
    ]),
  decode: () => {
    throw new Error('client only');
  },
};
// grpc-js treats a null response as none received: decode to an empty object.
const discard: Codec<object> = { encode: () => Buffer.alloc(0), decode: () => ({}) };

export const EtcdKV = defineService('etcdserverpb.KV', { Put: unary(putCodec, discard) });

export interface EtcdCluster {
  endpoints: string[];
  /** Member process ids (for CPU accounting). */
  pids(): number[];
  /** Index of the member that leads (via etcdctl), or -1 if unknown. */
  leader(): number;
  put(endpoint: number, key: Buffer, value: Buffer): Promise<void>;
  /** Makes member `index` the leader (etcdctl move-leader) and waits until it leads. */
  moveLeader(index: number): Promise<void>;
  stop(): Promise<void>;
}

export interface EtcdOptions {
  /** @default 3 */
  members?: number;
  /** Extra flags for every member (e.g. --unsafe-no-fsync). */
  extraArgs?: readonly string[];
}

export async function startEtcd(
  dir: string,
  basePort: number,
  channelsPerEndpoint = 4,
  options: EtcdOptions = {},
): Promise<EtcdCluster> {
  const names = Array.from({ length: options.members ?? 3 }, (_, i) => `e${i + 1}`);
  const client = (i: number): number => basePort + i * 2;
  const peer = (i: number): number => basePort + i * 2 + 1;
  const initial = names.map((n, i) => `${n}=http://127.0.0.1:${peer(i)}`).join(',');
  const procs: ChildProcess[] = names.map((name, i) => {
    const data = join(dir, name);
    mkdirSync(data, { recursive: true });
    const log = openSync(join(dir, `${name}.log`), 'a');
    return spawn(
      'etcd',
      [
        `--name=${name}`,
        `--data-dir=${data}`,
        `--listen-client-urls=http://127.0.0.1:${client(i)}`,
        `--advertise-client-urls=http://127.0.0.1:${client(i)}`,
        `--listen-peer-urls=http://127.0.0.1:${peer(i)}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${peer(i)}`,
        `--initial-cluster=${initial}`,
        '--initial-cluster-state=new',
        '--initial-cluster-token=swarmctl-bench',
        '--log-level=error',
        ...(options.extraArgs ?? []),
      ],
      { stdio: ['ignore', log, log] },
    );
  });
  const endpoints = names.map((_, i) => `127.0.0.1:${client(i)}`);
  const clients = endpoints.map((e) =>
    Array.from({ length: channelsPerEndpoint }, (_, k) =>
      createClient(EtcdKV, e, ChannelCredentials.createInsecure(), { 'swarmctl.channel': k }),
    ),
  );
  let rr = 0;
  const put = (endpoint: number, key: Buffer, value: Buffer): Promise<void> => {
    const pool = clients[endpoint % clients.length]!;
    return pool[rr++ % pool.length]!.call.Put({ key, value }, { timeoutMs: 10_000 }).then(() => undefined);
  };
  await waitFor(
    async () => {
      try {
        await Promise.all(endpoints.map((_, i) => put(i, Buffer.from('ready'), Buffer.from('1'))));
        return { done: true, value: 0 };
      } catch (e) {
        return { done: false, state: String(e) };
      }
    },
    { timeoutMs: 30_000, intervalMs: 200, what: 'etcd cluster to accept writes' },
  );
  function leaderIndex(): number {
    const r = spawnSync(
      'etcdctl',
      [`--endpoints=${endpoints.join(',')}`, 'endpoint', 'status', '-w', 'json'],
      {
        encoding: 'utf8',
      },
    );
    try {
      const rows = JSON.parse(r.stdout) as { Status: { header: { member_id: number }; leader: number } }[];
      return rows.findIndex((row) => row.Status.header.member_id === row.Status.leader);
    } catch {
      return -1;
    }
  }
  return {
    endpoints,
    pids: () => procs.flatMap((p) => (p.pid === undefined ? [] : [p.pid])),
    leader: leaderIndex,
    put,
    async moveLeader(index) {
      const members = spawnSync('etcdctl', [`--endpoints=${endpoints.join(',')}`, 'member', 'list'], {
        encoding: 'utf8',
      });
      // Rows: `<hex id>, started, <name>, <peer urls>, <client urls>, <is learner>`.
      const id = members.stdout
        .split('\n')
        .map((l) => l.split(', '))
        .find((cols) => cols[2] === names[index])?.[0];
      if (!id) throw new Error(`etcd member ${names[index]} not found: ${members.stdout}${members.stderr}`);
      await waitFor(
        () => {
          const current = leaderIndex();
          if (current === index) return { done: true, value: 0 };
          if (current >= 0)
            spawnSync('etcdctl', [`--endpoints=${endpoints[current]}`, 'move-leader', id], {
              encoding: 'utf8',
            });
          return { done: false, state: `leader e${current + 1}` };
        },
        { timeoutMs: 20_000, intervalMs: 200, what: `etcd leader ${names[index]}` },
      );
    },
    async stop() {
      for (const pool of clients) for (const c of pool) c.close();
      await Promise.all(
        procs.map(
          (p) =>
            new Promise<void>((resolve) => {
              if (p.exitCode !== null) return resolve();
              p.once('exit', () => resolve());
              p.kill('SIGTERM');
            }),
        ),
      );
    },
  };
}
