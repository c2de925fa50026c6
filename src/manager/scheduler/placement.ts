import type { ServiceId } from '../../api/index.js';
import { nodeAttribute } from '../orchestrator/index.js';
import { Heap } from './heap.js';
import type { NodeInfo } from './node-info.js';
import type { TaskCheck } from './pipeline.js';

export interface PlacementRequest {
  readonly serviceId: ServiceId;
  /** How many tasks of the group to place. */
  readonly count: number;
  readonly check: TaskCheck;
  /** Every known node, in id order (the order breaks the last ties). */
  readonly nodes: readonly NodeInfo[];
  /** Spread descriptors (`node.labels.rack`), highest precedence first. */
  readonly spread: readonly string[];
  /** Recent failures of this service's tasks on a node; nodes at `maxFailures` or more go last. */
  readonly recentFailures: (node: NodeInfo) => number;
  readonly maxFailures: number;
  /** Places the next task of the group on `node`; must count it there before returning. */
  readonly assign: (node: NodeInfo) => void;
}

/** A level of the placement-preference tree: one branch per value of the level's attribute. */
interface Branch {
  /** Active tasks of the service already in this branch (all its nodes, eligible or not). */
  tasks: number;
  children?: Branch[];
  childByValue?: Map<string, Branch>;
  /** Leaves only: nodes that passed the filters when the tree was built. */
  nodes: NodeInfo[];
  heap?: Heap<NodeInfo>;
}

/**
 * Places up to `count` tasks of one group and returns how many found a node. With placement
 * preferences the tasks are first shared out evenly over the values of each preference
 * (swarmkit's decision tree, nodes without the attribute forming the '' branch), counting the
 * service's existing tasks in each branch; a branch that cannot take its share is closed and the
 * rest shared again. Within a leaf each task goes to the best node at that moment: fewest recent
 * failures of the service (past the threshold), then fewest tasks of the service, then fewest
 * tasks in total, then node id. Counters move as tasks are placed, so one batch spreads evenly.
 */
export function placeTasks(req: PlacementRequest): number {
  if (req.count <= 0) return 0;
  const root = buildTree(req);
  const failures = new Map<NodeInfo, number>();
  const penalty = (n: NodeInfo): number => {
    let f = failures.get(n);
    if (f === undefined) {
      f = req.recentFailures(n);
      failures.set(n, f);
    }
    return f >= req.maxFailures ? f : 0;
  };
  const less = (a: NodeInfo, b: NodeInfo): boolean => {
    const pa = penalty(a);
    const pb = penalty(b);
    if (pa !== pb) return pa < pb;
    const sa = a.activeTasksOf(req.serviceId);
    const sb = b.activeTasksOf(req.serviceId);
    if (sa !== sb) return sa < sb;
    if (a.activeTasksCount !== b.activeTasksCount) return a.activeTasksCount < b.activeTasksCount;
    return a.id < b.id;
  };
  return placeOnBranch(req, root, req.count, less);
}

function buildTree(req: PlacementRequest): Branch {
  const root: Branch = { tasks: 0, nodes: [] };
  for (const node of req.nodes) {
    let branch = root;
    const here = node.activeTasksOf(req.serviceId);
    for (const descriptor of req.spread) {
      branch.childByValue ??= new Map();
      const value = nodeAttribute(node.node, descriptor);
      let next = branch.childByValue.get(value);
      if (!next) {
        next = { tasks: 0, nodes: [] };
        branch.childByValue.set(value, next);
      }
      next.tasks += here;
      branch = next;
    }
    if (req.check.fits(node)) branch.nodes.push(node);
  }
  finish(root);
  return root;
}

function finish(branch: Branch): void {
  if (!branch.childByValue) return;
  branch.children = [...branch.childByValue.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, child]) => child);
  for (const child of branch.children) finish(child);
}

function placeOnBranch(
  req: PlacementRequest,
  branch: Branch,
  n: number,
  less: (a: NodeInfo, b: NodeInfo) => boolean,
): number {
  if (!branch.children) return placeOnLeaf(req, branch, n, less);
  let open = branch.children;
  let placed = 0;
  while (placed < n && open.length > 0) {
    const shares = levelShares(
      open.map((b) => b.tasks),
      n - placed,
    );
    const full = new Set<Branch>();
    open.forEach((child, i) => {
      const share = shares[i]!;
      if (share === 0) return;
      const got = placeOnBranch(req, child, share, less);
      child.tasks += got;
      placed += got;
      if (got < share) full.add(child);
    });
    if (full.size === 0) break;
    open = open.filter((b) => !full.has(b));
  }
  return placed;
}

function placeOnLeaf(
  req: PlacementRequest,
  leaf: Branch,
  n: number,
  less: (a: NodeInfo, b: NodeInfo) => boolean,
): number {
  leaf.heap ??= new Heap(less, leaf.nodes);
  const heap = leaf.heap;
  let placed = 0;
  while (placed < n) {
    const node = heap.pop();
    if (!node) break;
    // Earlier placements in this batch may have used up the node (resources, ports, max replicas).
    if (!req.check.fits(node)) continue;
    req.assign(node);
    placed++;
    heap.push(node);
  }
  return placed;
}

/**
 * Shares `m` new tasks over branches holding `counts` tasks so the totals end as level as
 * possible (water filling); the remainder goes to the emptiest branches, then the first ones.
 */
export function levelShares(counts: readonly number[], m: number): number[] {
  const shares = counts.map(() => 0);
  if (counts.length === 0 || m <= 0) return shares;
  const order = counts.map((_, i) => i).sort((a, b) => counts[a]! - counts[b]! || a - b);
  let remaining = m;
  let level = counts[order[0]!]!;
  let k = 1;
  for (;;) {
    const next = k < order.length ? counts[order[k]!]! : Number.POSITIVE_INFINITY;
    const cost = (next - level) * k;
    if (next !== Number.POSITIVE_INFINITY && cost <= remaining) {
      remaining -= cost;
      level = next;
      k++;
      continue;
    }
    const raise = Math.floor(remaining / k);
    level += raise;
    remaining -= raise * k;
    break;
  }
  for (let j = 0; j < k; j++) {
    const i = order[j]!;
    shares[i] = level - counts[i]! + (j < remaining ? 1 : 0);
  }
  return shares;
}
