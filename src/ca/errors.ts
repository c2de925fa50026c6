import { SwarmError, type SwarmErrorOptions } from '../common/index.js';

/** Why a certificate was not accepted; carried in `details.reason`. */
export type CertificateRejection =
  | 'malformed'
  | 'expired'
  | 'not-yet-valid'
  | 'unknown-authority'
  | 'not-a-ca';

/** A certificate (or chain) that does not prove what it claims: the peer is not authenticated. */
export class CertificateVerificationError extends SwarmError {
  readonly reason: CertificateRejection;
  constructor(reason: CertificateRejection, message: string, options: SwarmErrorOptions = {}) {
    super('UNAUTHENTICATED', message, { ...options, details: { ...options.details, reason } });
    this.reason = reason;
  }
}

/**
 * The root CA fetched from a manager does not hash to the digest in the join token: the joining
 * node is talking to the wrong cluster (or to an impostor) and must not send its secret.
 */
export class RootCaMismatchError extends SwarmError {
  constructor(expected: string, actual: string) {
    super(
      'UNAUTHENTICATED',
      `remote root CA does not match the join token's fingerprint (token has ${expected}, remote is ${actual})`,
      { details: { expected, actual } },
    );
  }
}

/** A well-formed join token whose secret is not one of the cluster's current tokens. */
export class InvalidJoinTokenError extends SwarmError {
  constructor() {
    super('UNAUTHENTICATED', 'a valid join token is necessary to join this cluster');
  }
}

/** The key file is sealed by an unlock key and none was given: the node stays locked. */
export class NodeLockedError extends SwarmError {
  constructor(path: string) {
    super('LOCKED', `node is locked: ${path} is encrypted; unlock it with the cluster's unlock key`, {
      details: { path, reason: 'no-key' },
    });
  }
}

/** The unlock key given does not open the key file. Same code as NodeLockedError: still locked. */
export class InvalidUnlockKeyError extends SwarmError {
  constructor(path: string) {
    super('LOCKED', `invalid unlock key: it does not decrypt ${path}; the node stays locked`, {
      details: { path, reason: 'wrong-key' },
    });
  }
}
