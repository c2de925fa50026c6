/**
 * What a load thread writes to, described in plain data so that a worker thread can open its own
 * clients: either side's Put over the same gRPC client stack, `channelsPerEndpoint` connections to
 * each member, worker w writing to member w mod (number of members).
 */
import { ChannelCredentials, createClient } from '../../src/rpc/index.js';
import { KvService } from '../../test/harness/raft-kv/service.js';
import { EtcdKV } from './etcd.js';
import { valueOfSize } from './load.js';

export interface LoadTarget {
  kind: 'raft-kv' | 'etcd';
  /** host:port of each member's client endpoint. */
  endpoints: readonly string[];
  /** Connections to each member from one thread. */
  channelsPerEndpoint: number;
  valueSize: number;
  /** Keys are `${keyPrefix}${worker}-${seq mod 1000}`. */
  keyPrefix: string;
}

export interface OpenTarget {
  op: (worker: number, seq: number) => Promise<void>;
  close(): void;
}

interface Channel {
  put(key: string): Promise<unknown>;
  close(): void;
}

const callOptions = { timeoutMs: 10_000 };

function openChannel(t: LoadTarget, address: string, k: number): Channel {
  const credentials = ChannelCredentials.createInsecure();
  const options = { 'swarmctl.channel': k };
  const value = valueOfSize(t.valueSize);
  if (t.kind === 'raft-kv') {
    const c = createClient(KvService, address, credentials, options);
    const text = value.toString('latin1');
    return { put: (key) => c.call.Put({ key, value: text }, callOptions), close: () => c.close() };
  }
  const c = createClient(EtcdKV, address, credentials, options);
  return { put: (key) => c.call.Put({ key: Buffer.from(key), value }, callOptions), close: () => c.close() };
}

export function openTarget(t: LoadTarget): OpenTarget {
  const pools = t.endpoints.map((address) =>
    Array.from({ length: t.channelsPerEndpoint }, (_, k) => openChannel(t, address, k)),
  );
  let rr = 0;
  return {
    async op(worker, seq) {
      const pool = pools[worker % pools.length]!;
      await pool[rr++ % pool.length]!.put(`${t.keyPrefix}${worker}-${seq % 1000}`);
    },
    close() {
      for (const pool of pools) for (const c of pool) c.close();
    },
  };
}
