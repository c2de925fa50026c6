import { SwarmError } from '../common/index.js';
import type { Authorizer, CallContext } from '../rpc/index.js';

export const MANAGER_ROLE = 'swarm-manager';
export const WORKER_ROLE = 'swarm-worker';

/** Who may call a method: anyone (join calls), any node of the cluster, or managers only. */
export type Audience = 'anonymous' | 'node' | 'manager';

export interface AuthzDeps {
  clusterId: () => string;
  /** Consulted on every call, so a removal takes effect at the next call. */
  isRemoved: (nodeId: string) => boolean;
}

/**
 * Per-method authorization for the inter-node listener: a verified certificate of this cluster
 * (CN = node, OU = role, O = cluster), not removed, with the role the method needs.
 */
export function authorizer(deps: AuthzDeps, audienceOf: (method: string) => Audience): Authorizer {
  return (ctx: CallContext) => {
    const audience = audienceOf(ctx.method);
    if (audience === 'anonymous') return;
    const peer = ctx.peer;
    if (!peer)
      throw new SwarmError(
        'UNAUTHENTICATED',
        `${ctx.service}/${ctx.method} needs a certificate of this cluster`,
      );
    if (peer.clusterId !== deps.clusterId()) {
      throw new SwarmError(
        'UNAUTHENTICATED',
        `certificate of cluster ${peer.clusterId} is not of this cluster`,
      );
    }
    if (deps.isRemoved(peer.nodeId))
      throw new SwarmError('PERMISSION_DENIED', `node ${peer.nodeId} was removed from the cluster`);
    if (audience === 'manager' && peer.role !== MANAGER_ROLE) {
      throw new SwarmError(
        'PERMISSION_DENIED',
        `${ctx.service}/${ctx.method} is for managers; ${peer.nodeId} is a ${peer.role}`,
      );
    }
  };
}

/** The same rule for every method of a service. */
export function everyMethod(audience: Audience): (method: string) => Audience {
  return () => audience;
}
