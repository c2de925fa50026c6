export { GrpcTransport, type GrpcTransportDeps, type GrpcTransportOptions } from './grpc-transport.js';
export { decodeBatch, encodeBatch } from './message-codec.js';
export { RaftService, type RaftServiceMethods } from './service.js';
