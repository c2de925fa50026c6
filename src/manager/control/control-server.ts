import type {
  ControlServiceMethods,
  LogControlMethods,
  NetworkControlMethods,
  Node,
  NodeRole,
  ServiceControlMethods,
} from '../../api/index.js';
import {
  beginCaRotation,
  type CaSigningLimits,
  markNodeRemoved,
  type RandomBytes,
  rootCaDigest,
  rotateClusterUnlockKey,
  rotateJoinToken,
  servedRootPem,
  setAutolock,
  setCertExpiry,
} from '../../ca/index.js';
import {
  type Clock,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
} from '../../common/index.js';
import type { RaftDriver } from '../../raft/index.js';
import type { Handlers } from '../../rpc/index.js';
import { nodesAwaitingRotation } from '../ca/root-rotation-reconciler.js';
import { readCluster, type StoreCaState } from '../ca/store-ca-state.js';
import { canRemoveVoter, recordedReachable } from '../membership.js';
import { type ApplyResult, by, type MemoryStore } from '../store/index.js';

export interface ControlDeps {
  store: MemoryStore;
  caState: StoreCaState;
  driver: RaftDriver<ApplyResult>;
  nodeId: string;
  randomBytes: RandomBytes;
  clock: Clock;
  /** Testing-only lower limits (short certificate lives). */
  limits?: CaSigningLimits;
}

/** Finds a node by full id, unique id prefix, or hostname/name, as docker's CLI does. */
export function resolveNode(store: MemoryStore, ref: string): Node {
  return store.view((tx) => {
    const exact = tx.get('node', ref);
    if (exact) return exact;
    const all = tx.find('node', by.all());
    const named = all.filter((n) => n.description?.hostname === ref || n.spec.name === ref);
    if (named.length === 1) return named[0]!;
    const prefixed = all.filter((n) => n.id.startsWith(ref));
    if (prefixed.length === 1) return prefixed[0]!;
    if (prefixed.length > 1 || named.length > 1) {
      throw new InvalidArgumentError(
        'node',
        `node ${ref} is ambiguous (${prefixed.length + named.length} matches)`,
      );
    }
    throw new NotFoundError('node', ref);
  });
}

function checkRole(role: string): NodeRole {
  if (role !== 'manager' && role !== 'worker') {
    throw new InvalidArgumentError('role', `invalid role ${JSON.stringify(role)}: must be worker or manager`);
  }
  return role;
}

/**
 * Docker's demotion safeguards: never the last manager, never a voter whose departure leaves the
 * reachable voters short of a quorum. The leader checks quorum again before it removes the member.
 */
function checkDemotion(deps: ControlDeps, node: Node): void {
  const managers = deps.store.view((tx) =>
    tx.find('node', by.all()).filter((n) => n.spec.desiredRole === 'manager'),
  );
  if (managers.length === 1 && managers[0]!.id === node.id)
    throw new FailedPreconditionError('attempting to demote the last manager of the swarm');
  const { voters } = deps.driver.status().conf;
  if (
    voters.includes(node.id) &&
    !canRemoveVoter(voters, node.id, deps.nodeId, recordedReachable(deps.store))
  ) {
    throw new FailedPreconditionError(
      "can't remove member from the raft: this would result in a loss of quorum",
    );
  }
}

/** The cluster and node calls; services and tasks are `serviceHandlers` (services.ts), logs the log broker's. */
export function controlHandlers(
  deps: ControlDeps,
): Omit<
  Handlers<ControlServiceMethods>,
  keyof ServiceControlMethods | keyof LogControlMethods | keyof NetworkControlMethods
> {
  const { store, caState } = deps;
  const loadCa = async () => {
    const s = await caState.load();
    if (!s) throw new FailedPreconditionError('the cluster is not initialised yet');
    return s;
  };
  return {
    Info: async () => {
      const raft = deps.driver.status();
      const ca = await loadCa();
      const nodes = store.view((tx) => tx.find('node', by.all()));
      return {
        clusterId: ca.clusterId,
        nodeId: deps.nodeId,
        leader: raft.leader,
        raftTerm: raft.term,
        managers: nodes
          .filter((n) => n.managerStatus)
          .map((n) => ({
            nodeId: n.id,
            addr: n.managerStatus!.addr,
            leader: n.id === raft.leader,
            // Recorded by the leader (ManagerStatusReporter); the leader is reachable by definition.
            reachability: n.id === raft.leader ? 'reachable' : n.managerStatus!.reachability,
          })),
        nodes: nodes.length,
        autolock: ca.autolock !== undefined,
        certExpiryMs: ca.certExpiryMs,
        rootCaDigest: rootCaDigest(servedRootPem(ca.roots)),
        ...(ca.roots.rotation
          ? {
              rootRotation: {
                nodesOnNewRoot:
                  nodes.length -
                  nodesAwaitingRotation(
                    ca,
                    nodes.map((n) => n.id),
                  ).length,
                nodes: nodes.length,
              },
            }
          : {}),
      };
    },

    GetJoinToken: async (req) => {
      const role = checkRole(req.role);
      const s = req.rotate
        ? await caState.update((c) => rotateJoinToken(c, role, deps.randomBytes))
        : await loadCa();
      return { token: s.joinTokens[role] };
    },

    GetUnlockKey: async (req) => {
      let s = await loadCa();
      if (req.rotate) {
        if (!s.autolock)
          throw new FailedPreconditionError('autolock is not enabled: there is no unlock key to rotate');
        s = await caState.update((c) => rotateClusterUnlockKey(c, deps.randomBytes));
      }
      return { unlockKey: s.autolock?.unlockKey ?? null };
    },

    UpdateCluster: async (req) => {
      const s = await caState.update((c) => {
        let next = c;
        if (req.autolock !== undefined) next = setAutolock(next, req.autolock, deps.randomBytes);
        if (req.certExpiryMs !== undefined)
          next = setCertExpiry(next, req.certExpiryMs, 'cert-expiry', deps.limits);
        return next;
      });
      return { unlockKey: s.autolock?.unlockKey ?? null };
    },

    // Begins (or restarts) a cross-signed rotation; the leader's reconciler completes it once
    // every node has renewed under the new root. Returns the digest the tokens will pin then.
    RotateRootCA: async () => {
      await loadCa();
      const s = await caState.update((c) =>
        beginCaRotation(c, { clock: deps.clock, randomBytes: deps.randomBytes }),
      );
      return { rootCaDigest: rootCaDigest(s.roots.rotation!.newRoot.certPem) };
    },

    GetRootCACertificate: async () => ({ rootCaPem: servedRootPem((await loadCa()).roots) }),

    ListNodes: async () => ({ nodes: store.view((tx) => tx.find('node', by.all())) }),

    InspectNode: async (req) => resolveNode(store, req.id),

    UpdateNode: async (req) => {
      const id = resolveNode(store, req.id).id;
      const role = req.role ? checkRole(req.role) : undefined;
      // Read inside the transaction and retried: the leader's manager status reporter and the
      // dispatcher write node objects too, and a user's update must not fail on their writes.
      return store.update(
        (tx) => {
          const node = tx.get('node', id);
          if (!node) throw new NotFoundError('node', id);
          const labels = { ...(node.spec.labels ?? {}), ...(req.labelAdd ?? {}) };
          for (const k of req.labelRm ?? []) {
            if (!(k in labels))
              throw new InvalidArgumentError('label-rm', `key ${k} does not exist in node labels`);
            delete labels[k];
          }
          if (role === 'worker' && node.spec.desiredRole === 'manager') checkDemotion(deps, node);
          const spec = {
            ...node.spec,
            labels,
            ...(req.availability ? { availability: req.availability } : {}),
            ...(role ? { desiredRole: role } : {}),
          };
          // A promotion takes effect in the store at once (the node then gets a manager
          // certificate and joins Raft by itself); a demotion once the leader took it out of Raft.
          return tx.update('node', { ...node, spec, ...(role === 'manager' ? { role } : {}) });
        },
        { retries: 5 },
      );
    },

    RemoveNode: async (req) => {
      const node = resolveNode(store, req.id);
      if (node.id === deps.nodeId)
        throw new FailedPreconditionError('a node cannot remove itself: use leave');
      const conf = deps.driver.status().conf;
      if (
        node.spec.desiredRole === 'manager' ||
        node.managerStatus ||
        conf.voters.includes(node.id) ||
        conf.learners.includes(node.id)
      ) {
        throw new FailedPreconditionError(
          `node ${node.id} is a cluster manager and is a member of the raft cluster. It must be demoted to worker before removal`,
        );
      }
      if (node.status.state === 'ready' && !req.force) {
        throw new FailedPreconditionError(`node ${node.id} is not down and can't be removed`);
      }
      // Refuse its certificate first: the authorizer reads the removed list on every call.
      await caState.update((c) => markNodeRemoved(c, node.id));
      await store.update((tx) => tx.delete('node', node.id));
      return {};
    },
  };
}

export { readCluster };
