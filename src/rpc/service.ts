import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import type { Codec } from './codec.js';

export type MethodKind = 'unary' | 'server-stream' | 'client-stream' | 'bidi';

export interface MethodDef<Req, Res, K extends MethodKind = MethodKind> {
  readonly kind: K;
  readonly request: Codec<Req>;
  readonly response: Codec<Res>;
}

export function unary<Req, Res>(request: Codec<Req>, response: Codec<Res>): MethodDef<Req, Res, 'unary'> {
  return { kind: 'unary', request, response };
}
export function serverStream<Req, Res>(
  request: Codec<Req>,
  response: Codec<Res>,
): MethodDef<Req, Res, 'server-stream'> {
  return { kind: 'server-stream', request, response };
}
export function clientStream<Req, Res>(
  request: Codec<Req>,
  response: Codec<Res>,
): MethodDef<Req, Res, 'client-stream'> {
  return { kind: 'client-stream', request, response };
}
export function bidi<Req, Res>(request: Codec<Req>, response: Codec<Res>): MethodDef<Req, Res, 'bidi'> {
  return { kind: 'bidi', request, response };
}

// biome-ignore lint/suspicious/noExplicitAny: variance hole for heterogeneous method maps; typed again at use sites
export type AnyMethodDef = MethodDef<any, any>;
export type MethodMap = Readonly<Record<string, AnyMethodDef>>;

export interface ServiceDef<M extends MethodMap> {
  /** Fully qualified, e.g. `swarmctl.raft.Raft`. */
  readonly name: string;
  readonly methods: M;
  readonly grpc: ServiceDefinition;
}

export function methodPath(service: string, method: string): string {
  return `/${service}/${method}`;
}

/** A gRPC service described in TypeScript with our own codecs: no .proto files to ship. */
export function defineService<M extends MethodMap>(name: string, methods: M): ServiceDef<M> {
  const grpc: Record<string, MethodDefinition<unknown, unknown>> = {};
  for (const [method, def] of Object.entries(methods)) {
    grpc[method] = {
      path: methodPath(name, method),
      requestStream: def.kind === 'client-stream' || def.kind === 'bidi',
      responseStream: def.kind === 'server-stream' || def.kind === 'bidi',
      requestSerialize: (v: unknown) => def.request.encode(v),
      requestDeserialize: (b: Buffer) => def.request.decode(b),
      responseSerialize: (v: unknown) => def.response.encode(v),
      responseDeserialize: (b: Buffer) => def.response.decode(b),
      originalName: method,
    };
  }
  return { name, methods, grpc: grpc as ServiceDefinition };
}

export type RequestOf<D> = D extends MethodDef<infer Req, unknown> ? Req : never;
export type ResponseOf<D> = D extends MethodDef<unknown, infer Res> ? Res : never;
