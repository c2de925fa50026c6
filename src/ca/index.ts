export { SECRET_FILE_MODE, writeFileAtomic } from './atomic-file.js';
export type { CaSignerDeps, CaSignerOptions, SigningMaterial, SignRequest } from './ca-signer.js';
export {
  CaSigner,
  DEFAULT_CERT_EXPIRY_MS,
  MIN_CERT_EXPIRY_MS,
  parseAndVerifyCsr,
  validateCertExpiry,
} from './ca-signer.js';
export type { CaSigningLimits, CaState, CaStateDeps, CaStateStore, InitCaStateOptions } from './ca-state.js';
export {
  beginCaRotation,
  completeCaRotation,
  createSignerForState,
  initialCaState,
  isNodeRemoved,
  markNodeRemoved,
  markNodeRotated,
  rotateClusterUnlockKey,
  rotateJoinToken,
  setAutolock,
  setCertExpiry,
} from './ca-state.js';
export type { VerifyChainInput } from './chain.js';
export { verifyCertificateChain } from './chain.js';
export type { JoinResult, JoinTransport, RenewTransport } from './enrollment.js';
export { joinWithToken, renewWithCertificate } from './enrollment.js';
export * from './errors.js';
export type { FileCaStateStoreDeps } from './file-ca-state-store.js';
export { FileCaStateStore } from './file-ca-state-store.js';
export type { JoinTokens, ParsedJoinToken } from './join-token.js';
export {
  generateJoinToken,
  generateJoinTokens,
  parseJoinToken,
  roleForJoinToken,
  rootCaDigest,
  verifyRootAgainstToken,
} from './join-token.js';
export type { NodeKeyFile, NodeKeyStoreDeps, NodeSecrets } from './key-store.js';
export { DEK_BYTES, generateDek, NodeKeyStore } from './key-store.js';
export type { NodeKeyAndCsr, VerifyNodeCertificateInput } from './node-identity.js';
export { generateNodeKeyAndCsr, parseNodeCertificate, verifyNodeCertificate } from './node-identity.js';
export type {
  CertRenewerDeps,
  CertRenewerOptions,
  NodeCredentials,
  RenewalFailure,
  Validity,
} from './renewal.js';
export { CertRenewer, RENEW_LOWER_FRACTION, RENEW_UPPER_FRACTION, renewalTime } from './renewal.js';
export type { CreateRootCaDeps, CreateRootCaOptions, RootCa, RootCaWithKey } from './root-ca.js';
export {
  CERT_BACKDATE_MS,
  createRootCa,
  DEFAULT_ROOT_CA_VALIDITY_MS,
  MIN_ROOT_CA_VALIDITY_MS,
  parseRootCa,
} from './root-ca.js';
export type { BeginRotationOptions, CaRoots, RootRotation, TrustBundle } from './rotation.js';
export {
  beginRootRotation,
  completeRootRotation,
  crossSignRoot,
  isIssuedUnder,
  servedRootPem,
  signingMaterial,
  trustBundle,
} from './rotation.js';
export * from './types.js';
export type { UnlockKey } from './unlock-key.js';
export { formatUnlockKey, generateUnlockKey, parseUnlockKey } from './unlock-key.js';
