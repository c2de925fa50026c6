import { randomBytes as cryptoRandomBytes } from 'node:crypto';
import { type Clock, type Event, InvalidArgumentError } from '../common/index.js';
import { CaSigner, type CaSignerOptions, DEFAULT_CERT_EXPIRY_MS, validateCertExpiry } from './ca-signer.js';
import { generateJoinToken, generateJoinTokens, type JoinTokens } from './join-token.js';
import { type CreateRootCaOptions, createRootCa } from './root-ca.js';
import {
  beginRootRotation,
  type CaRoots,
  completeRootRotation,
  servedRootPem,
  signingMaterial,
} from './rotation.js';
import type { NodeRole, RandomBytes } from './types.js';
import { formatUnlockKey, generateUnlockKey } from './unlock-key.js';

/**
 * The CA's own cluster-wide state. It belongs in the replicated store (the services issue puts
 * it there, encrypted at rest like all raft data); until then FileCaStateStore keeps it.
 */
export interface CaState {
  /** Bumped by every update: optimistic concurrency for the replicated implementation. */
  version: number;
  clusterId: string;
  /** Root certificate and key, and a rotation when one is under way. Never on worker disks. */
  roots: CaRoots;
  joinTokens: JoinTokens;
  /** Sorted, unique. Certificates of these nodes are refused although they have not expired. */
  removedNodeIds: string[];
  /** Life of node certificates issued from now on (`--cert-expiry`). */
  certExpiryMs: number;
  /** Present when autolock is on: the cluster's unlock key (`SWMKEY-1-…`) and its version. */
  autolock?: { unlockKey: string; kekVersion: number };
  /**
   * During a root rotation: the nodes whose current certificate the CA signed with the new root's
   * key, sorted. The reconciler completes the rotation once it covers every node.
   */
  rotatedNodeIds?: string[];
}

/**
 * Signing limits below the product's: only for tests that watch renewals within seconds. The
 * node process fills these from a testing-only environment variable; nothing else sets them.
 */
export interface CaSigningLimits {
  /** Lowest accepted certificate life. @default MIN_CERT_EXPIRY_MS */
  minCertExpiryMs?: number;
  /** How far notBefore is backdated. @default CERT_BACKDATE_MS */
  backdateMs?: number;
}

/** Where CaState lives. Small on purpose, so a raft-backed store can implement it. */
export interface CaStateStore {
  /** The state, or undefined before the cluster's CA is initialised. */
  load(): Promise<CaState | undefined>;
  /** Stores the first state; fails with ALREADY_EXISTS if there is one. */
  create(state: CaState): Promise<CaState>;
  /**
   * Applies `mutate` to the latest state atomically and stores the result with `version + 1`.
   * Fails with NOT_FOUND before `create`.
   */
  update(mutate: (state: CaState) => CaState | Promise<CaState>): Promise<CaState>;
  /** Fires after every stored change (the authorizer watches removedNodeIds through it). */
  readonly onDidChange: Event<CaState>;
}

export interface InitCaStateOptions {
  clusterId: string;
  /** @default DEFAULT_CERT_EXPIRY_MS */
  certExpiryMs?: number;
  autolock?: boolean;
  root?: CreateRootCaOptions;
  limits?: CaSigningLimits;
}

export interface CaStateDeps {
  clock: Clock;
  /** @default crypto.randomBytes */
  randomBytes?: RandomBytes;
}

/** A new cluster's CA: fresh root, worker and manager tokens, and an unlock key if asked. */
export async function initialCaState(deps: CaStateDeps, options: InitCaStateOptions): Promise<CaState> {
  const rb = deps.randomBytes ?? cryptoRandomBytes;
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(options.clusterId)) {
    throw new InvalidArgumentError('clusterId', `invalid clusterId ${JSON.stringify(options.clusterId)}`);
  }
  const certExpiryMs = validateCertExpiry(
    options.certExpiryMs ?? DEFAULT_CERT_EXPIRY_MS,
    'certExpiry',
    options.limits?.minCertExpiryMs,
  );
  const current = await createRootCa({ clock: deps.clock, randomBytes: rb }, options.root);
  const state: CaState = {
    version: 1,
    clusterId: options.clusterId,
    roots: { current },
    joinTokens: generateJoinTokens(current.certPem, rb),
    removedNodeIds: [],
    certExpiryMs,
  };
  return options.autolock ? setAutolock(state, true, rb) : state;
}

/** `join-token --rotate`: a new secret for one role; the digest stays. */
export function rotateJoinToken(
  state: CaState,
  role: NodeRole,
  randomBytes: RandomBytes = cryptoRandomBytes,
): CaState {
  const token = generateJoinToken(servedRootPem(state.roots), randomBytes);
  return { ...state, joinTokens: { ...state.joinTokens, [role]: token } };
}

export function markNodeRemoved(state: CaState, nodeId: string): CaState {
  if (state.removedNodeIds.includes(nodeId)) return state;
  return { ...state, removedNodeIds: [...state.removedNodeIds, nodeId].sort() };
}

export function isNodeRemoved(state: CaState, nodeId: string): boolean {
  return state.removedNodeIds.includes(nodeId);
}

/** `update --cert-expiry`: validated like docker (at least 1 h), naming the field. */
export function setCertExpiry(
  state: CaState,
  certExpiryMs: number,
  field = 'certExpiry',
  limits: CaSigningLimits = {},
): CaState {
  return { ...state, certExpiryMs: validateCertExpiry(certExpiryMs, field, limits.minCertExpiryMs) };
}

/** `ca --rotate`: starts a cross-signed rotation. Tokens keep pinning the old root until it ends. */
export async function beginCaRotation(
  state: CaState,
  deps: CaStateDeps,
  options: CreateRootCaOptions = {},
): Promise<CaState> {
  const roots = await beginRootRotation(
    state.roots,
    { clock: deps.clock, randomBytes: deps.randomBytes ?? cryptoRandomBytes },
    options,
  );
  return { ...state, roots, rotatedNodeIds: [] };
}

/**
 * Records that `nodeId` now holds a certificate signed with the rotation's new key
 * (`newRootCertPem`); a no-op when that rotation is no longer the current one.
 */
export function markNodeRotated(state: CaState, nodeId: string, newRootCertPem: string): CaState {
  if (state.roots.rotation?.newRoot.certPem !== newRootCertPem) return state;
  const done = state.rotatedNodeIds ?? [];
  if (done.includes(nodeId)) return state;
  return { ...state, rotatedNodeIds: [...done, nodeId].sort() };
}

/** Ends the rotation once every node holds a new-root certificate; both join tokens change. */
export function completeCaRotation(state: CaState, randomBytes: RandomBytes = cryptoRandomBytes): CaState {
  const roots = completeRootRotation(state.roots);
  const { rotatedNodeIds: _done, ...rest } = state;
  return { ...rest, roots, joinTokens: generateJoinTokens(servedRootPem(roots), randomBytes) };
}

/** `update --autolock=true|false`. Turning it on creates an unlock key; off forgets it. */
export function setAutolock(
  state: CaState,
  enabled: boolean,
  randomBytes: RandomBytes = cryptoRandomBytes,
): CaState {
  if (!enabled) {
    const { autolock: _dropped, ...rest } = state;
    return rest;
  }
  if (state.autolock) return state;
  return rotateClusterUnlockKey(state, randomBytes);
}

/** `unlock-key --rotate`: a new key with the next version (managers re-seal their key files). */
export function rotateClusterUnlockKey(
  state: CaState,
  randomBytes: RandomBytes = cryptoRandomBytes,
): CaState {
  return {
    ...state,
    autolock: {
      unlockKey: formatUnlockKey(generateUnlockKey(randomBytes)),
      kekVersion: (state.autolock?.kekVersion ?? 0) + 1,
    },
  };
}

/** The signer for this state: the current root, or the new key and cross-certificate mid-rotation. */
export function createSignerForState(
  state: CaState,
  deps: CaStateDeps,
  options: Omit<CaSignerOptions, 'certExpiryMs'> = {},
): Promise<CaSigner> {
  return CaSigner.create(signingMaterial(state.roots), deps, {
    ...options,
    certExpiryMs: state.certExpiryMs,
  });
}
