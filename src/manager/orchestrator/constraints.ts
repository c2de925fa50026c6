import type { Node } from '../../api/index.js';
import { InvalidArgumentError } from '../../common/index.js';

/**
 * Placement constraints (`node.labels.zone==a`, `node.role!=manager`…) and how a node matches
 * them. Pure, shared by the global orchestrator, the jobs orchestrator, the restart supervisor,
 * `isTaskDirty` and the scheduler's constraint filter, so every component agrees on placement.
 */

export type ConstraintOperator = '==' | '!=';

export interface Constraint {
  /** Lowercased attribute key: `node.id`, `node.labels.zone`, `engine.labels.os`… */
  readonly key: string;
  readonly operator: ConstraintOperator;
  readonly value: string;
}

const NODE_LABEL_PREFIX = 'node.labels.';
const ENGINE_LABEL_PREFIX = 'engine.labels.';
const FIXED_KEYS = ['node.id', 'node.hostname', 'node.role', 'node.platform.os', 'node.platform.arch'];
const CONSTRAINT_RE = /^\s*([A-Za-z0-9_.-]+)\s*(==|!=)\s*(\S(?:.*\S)?)\s*$/;

/** Parses `key==value` / `key!=value` expressions; the error names `field[i]` and the value. */
export function parseConstraints(exprs: readonly string[] | undefined, field = 'constraints'): Constraint[] {
  return (exprs ?? []).map((expr, i) => parseConstraint(expr, `${field}[${i}]`));
}

export function parseConstraint(expr: string, field = 'constraint'): Constraint {
  const m = CONSTRAINT_RE.exec(expr);
  if (!m) {
    throw new InvalidArgumentError(
      field,
      `invalid ${field} ${JSON.stringify(expr)}: must be of the form key==value or key!=value`,
    );
  }
  const key = m[1]!.toLowerCase();
  const known =
    FIXED_KEYS.includes(key) ||
    (key.startsWith(NODE_LABEL_PREFIX) && key.length > NODE_LABEL_PREFIX.length) ||
    (key.startsWith(ENGINE_LABEL_PREFIX) && key.length > ENGINE_LABEL_PREFIX.length);
  if (!known) {
    throw new InvalidArgumentError(
      field,
      `invalid ${field} ${JSON.stringify(expr)}: unknown attribute ${JSON.stringify(m[1])}`,
    );
  }
  // Label keys keep their case after the prefix: labels are case-sensitive maps.
  const rawKey = m[1]!;
  const normalized = key.startsWith(NODE_LABEL_PREFIX)
    ? NODE_LABEL_PREFIX + rawKey.slice(NODE_LABEL_PREFIX.length)
    : key.startsWith(ENGINE_LABEL_PREFIX)
      ? ENGINE_LABEL_PREFIX + rawKey.slice(ENGINE_LABEL_PREFIX.length)
      : key;
  return { key: normalized, operator: m[2] as ConstraintOperator, value: m[3]! };
}

/**
 * The node's value for a constraint key; a missing attribute or label reads as '' (so
 * `node.labels.zone!=a` holds on a node without the label, as in docker).
 */
export function nodeAttribute(node: Node, key: string): string {
  if (key.startsWith(NODE_LABEL_PREFIX)) return node.spec.labels?.[key.slice(NODE_LABEL_PREFIX.length)] ?? '';
  if (key.startsWith(ENGINE_LABEL_PREFIX))
    return node.description?.engine.labels?.[key.slice(ENGINE_LABEL_PREFIX.length)] ?? '';
  switch (key) {
    case 'node.id':
      return node.id;
    case 'node.hostname':
      return node.description?.hostname ?? '';
    case 'node.role':
      return node.role;
    case 'node.platform.os':
      return node.description?.platform.os ?? '';
    case 'node.platform.arch':
      return node.description?.platform.architecture ?? '';
    default:
      return '';
  }
}

/** Values compare case-insensitively, as swarmkit's do. */
export function constraintMatches(c: Constraint, node: Node): boolean {
  const equal = nodeAttribute(node, c.key).toLowerCase() === c.value.toLowerCase();
  return c.operator === '==' ? equal : !equal;
}

export function nodeMatchesConstraints(constraints: readonly Constraint[], node: Node): boolean {
  return constraints.every((c) => constraintMatches(c, node));
}

/**
 * The constraints that fail on `node`, as written (`node.labels.zone==a`): what the scheduler's
 * "no suitable node" explanation shows.
 */
export function failedConstraints(constraints: readonly Constraint[], node: Node): Constraint[] {
  return constraints.filter((c) => !constraintMatches(c, node));
}

export function formatConstraint(c: Constraint): string {
  return `${c.key}${c.operator}${c.value}`;
}
