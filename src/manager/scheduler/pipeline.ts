import { DEFAULT_FILTERS, type Filter } from './filters.js';
import type { NodeInfo } from './node-info.js';
import type { TaskRequirements } from './requirements.js';

/** The filters that apply to one task's requirements, ready to run over many nodes. */
export class TaskCheck {
  private readonly active: readonly Filter[];

  constructor(
    readonly req: TaskRequirements,
    filters: readonly Filter[],
  ) {
    this.active = filters.filter((f) => f.applies(req));
  }

  fits(node: NodeInfo): boolean {
    for (const f of this.active) if (!f.check(this.req, node)) return false;
    return true;
  }

  /** The first filter the node fails, or undefined when the task fits. */
  firstFailure(node: NodeInfo): Filter | undefined {
    for (const f of this.active) if (!f.check(this.req, node)) return f;
    return undefined;
  }

  /**
   * Why the task fits none of `nodes`: each node is blamed on the first filter it fails; filters
   * are listed with the most nodes first (ties in pipeline order), as swarmkit words it:
   * `scheduling constraints not satisfied on 2 nodes; insufficient resources on 1 node`.
   * Empty when some node fits (or there are no nodes).
   */
  explain(nodes: Iterable<NodeInfo>): string {
    const counts = new Map<Filter, number>();
    for (const n of nodes) {
      const f = this.firstFailure(n);
      if (f) counts.set(f, (counts.get(f) ?? 0) + 1);
    }
    return explainCounts(counts, this.active);
  }
}

export function explainCounts(counts: ReadonlyMap<Filter, number>, order: readonly Filter[]): string {
  return [...counts.entries()]
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1] || order.indexOf(a[0]) - order.indexOf(b[0]))
    .map(([f, n]) => f.explain(n))
    .join('; ');
}

export class Pipeline {
  constructor(readonly filters: readonly Filter[] = DEFAULT_FILTERS) {}

  forTask(req: TaskRequirements): TaskCheck {
    return new TaskCheck(req, this.filters);
  }
}
