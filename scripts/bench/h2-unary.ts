/**
 * A unary gRPC call on a bare `node:http2` session: the load generator's lean client. grpc-js's
 * client spent 175–290 µs of CPU per write at concurrency 1024, more than either side's three
 * members together, and its loop stalled for 200–300 ms at a time (docs/raft-core.md, Session 11);
 * this one costs about half of that. Both sides of a comparison get the same client.
 */
import type http2 from 'node:http2';
import { frameMessage } from '../../src/rpc/framing.js';

/** The request headers of a unary call to `path`, as grpc-js sends them. */
export function unaryHeaders(path: string, timeoutSeconds?: number): http2.OutgoingHttpHeaders {
  return {
    ':method': 'POST',
    ':path': path,
    'content-type': 'application/grpc',
    te: 'trailers',
    ...(timeoutSeconds === undefined ? {} : { 'grpc-timeout': `${timeoutSeconds}S` }),
  };
}

/**
 * Sends one framed message and resolves once the server's status is OK, with the moment
 * (`performance.now()`) the response's message arrived: the status can come later, in a write
 * of its own (trailer-lag.ts). Rejects with the status and message otherwise, or if the stream
 * ends without a status (reset, session lost).
 */
export function h2Unary(
  session: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
  body: Buffer,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = session.request(headers);
    let messageAt = 0;
    // The status comes in the trailers, or in the headers of a trailers-only response.
    const settle = (h: http2.IncomingHttpHeaders): void => {
      const status = h['grpc-status'];
      if (status === undefined) return;
      if (status === '0') resolve(messageAt || performance.now());
      else reject(new Error(`grpc-status ${status}: ${decodeURIComponent(String(h['grpc-message'] ?? ''))}`));
    };
    req.on('response', settle);
    req.on('trailers', settle);
    req.on('data', () => {
      messageAt ||= performance.now();
    });
    req.on('error', reject);
    // A no-op once settled.
    req.on('close', () =>
      reject(new Error(`stream closed without a grpc-status (reset code ${req.rstCode})`)),
    );
    req.end(frameMessage(body));
  });
}
