import { defineService, jsonCodec, unary } from '../../../src/rpc/index.js';

export interface PutRequest {
  key: string;
  value: string;
  /** With a session, a retried put is applied once (client id + sequence number). */
  clientId?: string;
  seq?: number;
}
export interface CasRequest extends PutRequest {
  expected: string | null;
}
export interface NodeStatus {
  id: string;
  role: string;
  leader: string | null;
  term: number;
  commit: number;
  applied: number;
  firstIndex: number;
  lastIndex: number;
  /**
   * SHA-256 of the KV state, to compare replicas; only when asked for (`{ digest: true }`): it
   * sorts and hashes the whole state (~0.2 s and tens of MB of garbage at the benchmark's size).
   */
  digest?: string;
}

/** The test and benchmark KV service that a raft-kv node process serves next to Raft itself. */
export const KvService = defineService('swarmctl.test.KV', {
  Put: unary(jsonCodec<PutRequest>(), jsonCodec<{ index: number }>()),
  Cas: unary(jsonCodec<CasRequest>(), jsonCodec<{ index: number; ok: boolean }>()),
  Get: unary(jsonCodec<{ key: string }>(), jsonCodec<{ value: string | null; index: number }>()),
  Status: unary(jsonCodec<{ digest?: boolean }>(), jsonCodec<NodeStatus>()),
  TransferLeader: unary(jsonCodec<{ to: string }>(), jsonCodec<Record<string, never>>()),
});
