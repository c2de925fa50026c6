import type { Cluster } from '../../api/index.js';
import { type CaState, type CaStateStore, rootCaDigest, servedRootPem } from '../../ca/index.js';
import {
  CorruptionError,
  Emitter,
  type Event,
  FailedPreconditionError,
  NotFoundError,
  SwarmError,
} from '../../common/index.js';
import { by, type MemoryStore } from '../store/index.js';

export const CLUSTER_NAME = 'default';

/** The public view of the CA that the Cluster object carries beside the private state. */
export function publicCaFields(state: CaState): Pick<Cluster, 'joinTokens' | 'rootCa' | 'caState'> {
  const served = servedRootPem(state.roots);
  const next = state.roots.rotation;
  return {
    joinTokens: { worker: state.joinTokens.worker, manager: state.joinTokens.manager },
    rootCa: {
      caCertPem: served,
      caCertDigest: rootCaDigest(served),
      ...(next ? { nextCaCertPem: next.newRoot.certPem } : {}),
    },
    caState: JSON.stringify(state),
  };
}

export function parseCaState(text: string): CaState {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new CorruptionError('CA state in the cluster object is not JSON', { cause: e });
  }
  const s = v as Partial<CaState>;
  if (
    typeof s.clusterId !== 'string' ||
    typeof s.roots?.current?.keyPem !== 'string' ||
    !Array.isArray(s.removedNodeIds)
  ) {
    throw new CorruptionError('CA state in the cluster object is malformed');
  }
  return v as CaState;
}

/** The cluster object, or NOT_FOUND before the cluster was initialised. */
export function readCluster(store: MemoryStore): Cluster {
  const cluster = store.view((tx) => tx.find('cluster', by.all())[0]);
  if (!cluster) throw new NotFoundError('cluster', CLUSTER_NAME);
  return cluster;
}

/**
 * CaStateStore over the replicated store: the CA's private state lives in the Cluster object,
 * so it is replicated by Raft and encrypted at rest with the rest of the log.
 */
export class StoreCaState implements CaStateStore {
  private readonly changes = new Emitter<CaState>();
  readonly onDidChange: Event<CaState> = this.changes.event;

  constructor(private readonly store: MemoryStore) {}

  /** Called by the manager on every cluster event so watchers see committed changes only. */
  notify(cluster: Cluster): void {
    if (cluster.caState) this.changes.fire(parseCaState(cluster.caState));
  }

  async load(): Promise<CaState | undefined> {
    const cluster = this.store.view((tx) => tx.find('cluster', by.all())[0]);
    return cluster?.caState ? parseCaState(cluster.caState) : undefined;
  }

  async create(): Promise<CaState> {
    throw new FailedPreconditionError('the CA state is created with the cluster object at init');
  }

  async update(mutate: (state: CaState) => CaState | Promise<CaState>): Promise<CaState> {
    for (let attempt = 0; ; attempt++) {
      const cluster = readCluster(this.store);
      if (!cluster.caState) throw new NotFoundError('CA state', cluster.id);
      const current = parseCaState(cluster.caState);
      const next = await mutate(current);
      const stored: CaState = { ...next, version: current.version + 1 };
      try {
        await this.store.update((tx) => tx.update('cluster', { ...cluster, ...publicCaFields(stored) }));
        return stored;
      } catch (e) {
        if (!(e instanceof SwarmError && e.code === 'VERSION_CONFLICT') || attempt >= 5) throw e;
      }
    }
  }
}
