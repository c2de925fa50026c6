export { ChannelCredentials } from '@grpc/grpc-js';
export {
  type BidiCall,
  type CallOpts,
  type ClientStreamCall,
  createClient,
  type RpcClient,
  type TypedClient,
} from './client.js';
export { type Codec, emptyCodec, jsonCodec } from './codec.js';
export {
  clientCredentials,
  MANAGER_SERVER_NAME,
  NodeServerCredentials,
  type PeerIdentity,
  peerIdentity,
  ServerCredentials,
  serverNameOverride,
  type TlsContextOptions,
  type TlsMaterial,
} from './credentials.js';
export { fromGrpcError, toGrpcError } from './errors.js';
export {
  type Authorizer,
  type CallContext,
  type Handler,
  type Handlers,
  RpcServer,
  type RpcServerOptions,
} from './server.js';
export {
  type AnyMethodDef,
  bidi,
  clientStream,
  defineService,
  type MethodDef,
  type MethodKind,
  type MethodMap,
  methodPath,
  type RequestOf,
  type ResponseOf,
  type ServiceDef,
  serverStream,
  unary,
} from './service.js';
