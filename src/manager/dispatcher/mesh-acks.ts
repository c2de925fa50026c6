import type { NodeId } from '../../api/index.js';
import { Emitter, type Event } from '../../common/index.js';

/**
 * Leader memory of which MeshState revision each node's data plane has applied, for the nodes
 * with an open session (those that are sent the mesh). Reports arrive by `MeshApplied`.
 */
export class MeshAcks {
  private readonly peers = new Map<NodeId, { sessions: number; applied: number }>();
  private readonly changed = new Emitter<void>();
  /** A node reported a newer revision, or a session closed. */
  readonly onDidChange: Event<void> = this.changed.event;

  /** @param ready keeps the nodes of a list that are marked ready (a node marked down no longer counts). */
  constructor(private readonly ready: (ids: readonly NodeId[]) => NodeId[]) {}

  open(nodeId: NodeId): void {
    const peer = this.peers.get(nodeId);
    // A new session may come from a restarted node whose data plane starts over: it reports again.
    this.peers.set(nodeId, { sessions: (peer?.sessions ?? 0) + 1, applied: -1 });
  }

  close(nodeId: NodeId): void {
    const peer = this.peers.get(nodeId);
    if (!peer) return;
    peer.sessions--;
    if (peer.sessions <= 0) this.peers.delete(nodeId);
    this.changed.fire();
  }

  /** Ignored for a node without a session (its next session reports again). */
  report(nodeId: NodeId, revision: number): void {
    const peer = this.peers.get(nodeId);
    if (!peer || revision <= peer.applied) return;
    peer.applied = revision;
    this.changed.fire();
  }

  /** Ready nodes with a session that have not reported `revision` (or a later one) applied. */
  lagging(revision: number): NodeId[] {
    const behind = [...this.peers].filter(([, p]) => p.applied < revision).map(([id]) => id);
    return behind.length === 0 ? behind : this.ready(behind);
  }
}
