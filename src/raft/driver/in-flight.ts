/** How a proposal is handed to the core again (same request id). */
export type Resubmit = () => unknown;

/**
 * The driver's proposals between the caller and the apply: handed to the core (with the term they
 * were proposed in), or waiting for a leader to be known. A proposal (ours or forwarded) can only
 * ever be appended with the term it was proposed in, so once an entry of a later term is applied
 * without it, it never will be, and proposing it again is safe. One that waited for a leader was
 * never proposed at all.
 */
export class InFlightProposals {
  private readonly awaitingLeader = new Map<string, Resubmit>();
  private readonly submitted = new Map<string, { term: number; fn: Resubmit }>();

  proposed(id: string, term: number, fn: Resubmit): void {
    this.submitted.set(id, { term, fn });
  }

  /** No leader was known: nothing was proposed. */
  park(id: string, fn: Resubmit): void {
    this.awaitingLeader.set(id, fn);
  }

  get hasParked(): boolean {
    return this.awaitingLeader.size > 0;
  }

  /** Applied (or given up): forget it. */
  settled(id: string): void {
    this.submitted.delete(id);
    this.awaitingLeader.delete(id);
  }

  /** The parked proposals, now that a leader is known. */
  takeParked(): [string, Resubmit][] {
    const out = [...this.awaitingLeader];
    this.awaitingLeader.clear();
    return out;
  }

  /** Proposals of a term before `appliedTerm` that were not applied: lost with their leader. */
  takeLost(appliedTerm: number): [string, Resubmit][] {
    const out: [string, Resubmit][] = [];
    for (const [id, p] of this.submitted) {
      if (p.term >= appliedTerm) continue;
      this.submitted.delete(id);
      out.push([id, p.fn]);
    }
    return out;
  }

  /** Every proposal handed to the core (a snapshot may contain any of them): forgotten. */
  takeSubmitted(): string[] {
    const out = [...this.submitted.keys()];
    this.submitted.clear();
    return out;
  }

  /** Drops what its caller no longer waits for (timed out, aborted). */
  prune(isPending: (id: string) => boolean): void {
    for (const id of this.awaitingLeader.keys()) if (!isPending(id)) this.awaitingLeader.delete(id);
    for (const id of this.submitted.keys()) if (!isPending(id)) this.submitted.delete(id);
  }

  clear(): void {
    this.awaitingLeader.clear();
    this.submitted.clear();
  }
}
