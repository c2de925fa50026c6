import type { CaServiceMethods } from '../../api/index.js';
import { generateId, type Node, type NodeId, type NodeRole } from '../../api/index.js';
import {
  type CaSigningLimits,
  type CaState,
  createSignerForState,
  markNodeRotated,
  type RandomBytes,
  roleForJoinToken,
  servedRootPem,
  trustBundle,
} from '../../ca/index.js';
import { type Clock, type Logger, NotFoundError, SwarmError } from '../../common/index.js';
import type { Handlers } from '../../rpc/index.js';
import type { MemoryStore } from '../store/index.js';
import type { StoreCaState } from './store-ca-state.js';

export interface CaServerDeps {
  store: MemoryStore;
  caState: StoreCaState;
  clock: Clock;
  randomBytes: RandomBytes;
  logger: Logger;
  /** `host:port` of the managers, for the joining node. */
  managerAddrs: () => string[];
  /** Testing-only lower limits (short certificate lives). */
  limits?: CaSigningLimits;
}

/**
 * The role a node's next certificate carries: its desired role, except that a manager still in
 * the Raft group (it has a manager status) keeps a manager certificate until it has left, so a
 * demotion never cuts a voter off from its peers and costs quorum.
 */
export function certificateRole(node: Node): NodeRole {
  if (node.spec.desiredRole === 'worker' && node.managerStatus) return 'manager';
  return node.spec.desiredRole;
}

/** The CA service every manager serves: root distribution, join by token, renewal by certificate. */
export function caHandlers(deps: CaServerDeps): Handlers<CaServiceMethods> {
  const signerDeps = { clock: deps.clock, randomBytes: deps.randomBytes };
  const signerFor = (s: CaState) => createSignerForState(s, signerDeps, deps.limits ?? {});
  // Mid-rotation, remember who now holds a new-key certificate: the reconciler's progress.
  const recordRotated = async (signedWith: CaState, nodeId: string): Promise<void> => {
    const next = signedWith.roots.rotation?.newRoot.certPem;
    if (!next) return;
    await deps.caState.update((c) => markNodeRotated(c, nodeId, next));
  };
  const state = async () => {
    const s = await deps.caState.load();
    if (!s) throw new SwarmError('UNAVAILABLE', 'the cluster CA is not initialised yet', { retryable: true });
    return s;
  };
  return {
    GetRootCACertificate: async () => ({ rootCaPem: servedRootPem((await state()).roots) }),

    IssueNodeCertificate: async (req) => {
      const s = await state();
      const role = roleForJoinToken(s.joinTokens, req.token);
      if (role === 'manager' && !req.advertiseAddr) {
        throw new SwarmError('INVALID_ARGUMENT', 'a manager joining needs an advertise address', {
          details: { field: 'advertiseAddr' },
        });
      }
      const nodeId = generateId<NodeId>(deps.randomBytes);
      const signer = await signerFor(s);
      const issued = await signer.sign({ csrPem: req.csrPem, nodeId, role, clusterId: s.clusterId });
      const node: Omit<Node, 'meta'> = {
        id: nodeId,
        spec: { desiredRole: role, availability: req.availability ?? 'active' },
        role,
        status: { state: 'unknown', message: 'joined' },
        ...(role === 'manager'
          ? {
              managerStatus: {
                raftId: nodeId,
                addr: req.advertiseAddr!,
                leader: false,
                reachability: 'unknown' as const,
              },
            }
          : {}),
      };
      await deps.store.update((tx) => tx.create('node', node));
      await recordRotated(s, nodeId);
      deps.logger.info('node joined', { 'node.id': nodeId, role });
      return {
        nodeId,
        certChainPem: issued.certChainPem,
        rootCaPem: servedRootPem(s.roots),
        managers: deps.managerAddrs(),
      };
    },

    RenewNodeCertificate: async (req, ctx) => {
      const peer = ctx.peer!;
      const s = await state();
      const node = deps.store.view((tx) => tx.get('node', peer.nodeId));
      if (!node) throw new NotFoundError('node', peer.nodeId);
      const signer = await signerFor(s);
      const issued = await signer.sign({
        csrPem: req.csrPem,
        nodeId: node.id,
        role: certificateRole(node),
        clusterId: s.clusterId,
      });
      await recordRotated(s, node.id);
      return { certChainPem: issued.certChainPem, rootCaPem: servedRootPem(s.roots) };
    },

    NodeCertificateStatus: async (_req, ctx) => {
      const peer = ctx.peer!;
      const s = await state();
      const node = deps.store.view((tx) => tx.get('node', peer.nodeId));
      if (!node) throw new NotFoundError('node', peer.nodeId);
      const rotation = s.roots.rotation;
      return {
        desiredRole: certificateRole(node),
        trustRootsPem: trustBundle(s.roots).rootsPem,
        rotationInProgress: rotation !== undefined,
        issuerCertPem: rotation ? rotation.newRoot.certPem : s.roots.current.certPem,
      };
    },
  };
}
