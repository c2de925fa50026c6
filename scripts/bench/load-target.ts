/**
 * What a load thread writes to, described in plain data so that a worker thread can open its own
 * clients: either side's Put over the same gRPC client stack, `channelsPerEndpoint` connections to
 * each member, worker w writing to member w mod (number of members).
 */
import http2 from 'node:http2';
import { ChannelCredentials, createClient, methodPath } from '../../src/rpc/index.js';
import { KvService } from '../../test/harness/raft-kv/service.js';
import { EtcdKV } from './etcd.js';
import { h2Unary, unaryHeaders } from './h2-unary.js';
import { closedLoop, valueOfSize } from './load.js';

/**
 * `h2`: unary calls framed on a bare node:http2 session (h2-unary.ts); `grpc-js`: the product's
 * client (src/rpc). Both sides always get the same one.
 */
export type LoadClient = 'h2' | 'grpc-js';
const loadClients: readonly string[] = ['h2', 'grpc-js'] satisfies LoadClient[];

/** The `--client` option of the benchmark scripts. */
export function parseLoadClient(value: string | undefined): LoadClient {
  if (value === undefined || !loadClients.includes(value))
    throw new Error(`--client must be one of ${loadClients.join(', ')}, got ${value}`);
  return value as LoadClient;
}

export interface LoadTarget {
  kind: 'raft-kv' | 'etcd';
  client: LoadClient;
  /** host:port of each member's client endpoint. */
  endpoints: readonly string[];
  /** Connections to each member from one thread. */
  channelsPerEndpoint: number;
  valueSize: number;
  /** Keys are `${keyPrefix}${worker}-${seq mod 1000}`. */
  keyPrefix: string;
}

/** bench:raft's default target on one side: 256 B values, four connections to each member. */
export function defaultTarget(
  kind: LoadTarget['kind'],
  endpoints: readonly string[],
  client: LoadClient,
  keyPrefix: string,
): LoadTarget {
  return { kind, client, endpoints, channelsPerEndpoint: 4, valueSize: 256, keyPrefix };
}

/**
 * bench:raft's JIT warm-up: `ms` of unmeasured load at concurrency 64 on `t`. Cold members may
 * finish no write in a short warm-up; only writes that all fail stop it.
 */
export async function warmUp(t: LoadTarget, ms: number): Promise<void> {
  const warm = openTarget(t);
  try {
    const r = await closedLoop({ concurrency: 64, durationMs: ms, warmupMs: 0, op: warm.op });
    if (r.latencies.length === 0 && r.errors > 0)
      throw new Error(`warm-up: every write failed: ${r.firstError}`);
  } finally {
    warm.close();
  }
}

/** The key of worker `worker`'s write number `seq`. */
export function loadKey(prefix: string, worker: number, seq: number): string {
  return `${prefix}${worker}-${seq % 1000}`;
}

/** The index of the endpoint (member) worker `worker` writes to. */
export function endpointOf(worker: number, endpoints: number): number {
  return worker % endpoints;
}

export interface OpenTarget {
  /**
   * One write. With the h2 client it resolves with the moment its response's message arrived
   * (`performance.now()`), which can be before the status (trailer-lag.ts); with grpc-js's,
   * with undefined.
   */
  op: (worker: number, seq: number) => Promise<number | undefined>;
  close(): void;
}

interface Channel {
  put(key: string): Promise<number | undefined>;
  close(): void;
}

const callOptions = { timeoutMs: 10_000 };

/** One HTTP/2 connection (a session of its own) calling `path` with `encode(key)`. */
function h2Channel(address: string, path: string, encode: (key: string) => Buffer): Channel {
  const session = http2.connect(`http://${address}`);
  // Its calls fail with the cause; the session's own error event must not throw.
  session.on('error', () => {});
  const headers = unaryHeaders(path, callOptions.timeoutMs / 1000);
  return { put: (key) => h2Unary(session, headers, encode(key)), close: () => session.close() };
}

function openChannel(t: LoadTarget, address: string, k: number): Channel {
  const value = valueOfSize(t.valueSize);
  const text = value.toString('latin1');
  if (t.client === 'h2') {
    if (t.kind === 'raft-kv') {
      const put = KvService.methods.Put.request;
      return h2Channel(address, methodPath(KvService.name, 'Put'), (key) => put.encode({ key, value: text }));
    }
    const put = EtcdKV.methods.Put.request;
    return h2Channel(address, methodPath(EtcdKV.name, 'Put'), (key) =>
      put.encode({ key: Buffer.from(key), value }),
    );
  }
  const credentials = ChannelCredentials.createInsecure();
  const options = { 'swarmctl.channel': k };
  if (t.kind === 'raft-kv') {
    const c = createClient(KvService, address, credentials, options);
    return {
      put: (key) => c.call.Put({ key, value: text }, callOptions).then(() => undefined),
      close: () => c.close(),
    };
  }
  const c = createClient(EtcdKV, address, credentials, options);
  return {
    put: (key) => c.call.Put({ key: Buffer.from(key), value }, callOptions).then(() => undefined),
    close: () => c.close(),
  };
}

export function openTarget(t: LoadTarget): OpenTarget {
  const pools = t.endpoints.map((address) =>
    Array.from({ length: t.channelsPerEndpoint }, (_, k) => openChannel(t, address, k)),
  );
  let rr = 0;
  return {
    op(worker, seq) {
      const pool = pools[endpointOf(worker, pools.length)]!;
      return pool[rr++ % pool.length]!.put(loadKey(t.keyPrefix, worker, seq));
    },
    close() {
      for (const pool of pools) for (const c of pool) c.close();
    },
  };
}
