import type { Node } from '../../api/index.js';
import { InvalidArgumentError } from '../../common/index.js';

/** One placement constraint, parsed: `node.labels.zone != a` → {key, op: '!=', value: 'a'}. */
export interface Constraint {
  readonly key: string;
  readonly op: '==' | '!=';
  readonly value: string;
}

const CONSTRAINT_RE = /^\s*([A-Za-z0-9_.-]+)\s*(==|!=)\s*(\S(?:.*\S)?)\s*$/;
const FIXED_KEYS = new Set([
  'node.id',
  'node.hostname',
  'node.role',
  'node.platform.os',
  'node.platform.arch',
]);
const NODE_LABELS = 'node.labels.';
const ENGINE_LABELS = 'engine.labels.';

/**
 * Parses `--constraint` expressions. The control API validates them already; the scheduler parses
 * again (once per service spec) and refuses anything it would not know how to match, so a spec
 * that slipped past validation leaves its tasks pending instead of placing them anywhere.
 */
export function parseConstraints(exprs: readonly string[]): Constraint[] {
  return exprs.map((expr, i) => {
    const m = CONSTRAINT_RE.exec(expr);
    const field = `placement.constraints[${i}]`;
    if (!m) throw new InvalidArgumentError(field, `invalid constraint ${JSON.stringify(expr)}`);
    const key = m[1]!;
    if (!isKnownAttribute(key))
      throw new InvalidArgumentError(
        field,
        `invalid constraint ${JSON.stringify(expr)}: unknown attribute ${key}`,
      );
    return { key, op: m[2] as Constraint['op'], value: m[3]! };
  });
}

export function isKnownAttribute(key: string): boolean {
  if (FIXED_KEYS.has(key)) return true;
  const label = labelName(key);
  return label !== undefined && label !== '';
}

function labelName(key: string): string | undefined {
  if (key.startsWith(NODE_LABELS)) return key.slice(NODE_LABELS.length);
  if (key.startsWith(ENGINE_LABELS)) return key.slice(ENGINE_LABELS.length);
  return undefined;
}

/**
 * The node's value for a constraint or spread attribute; '' when it has none (a missing label
 * matches `!=` anything and `==` nothing, as in swarmkit).
 */
export function nodeAttribute(node: Node, key: string): string {
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
  }
  // Label names are case-sensitive; only values compare case-insensitively.
  if (key.startsWith(NODE_LABELS)) return node.spec.labels?.[key.slice(NODE_LABELS.length)] ?? '';
  if (key.startsWith(ENGINE_LABELS))
    return node.description?.engine.labels?.[key.slice(ENGINE_LABELS.length)] ?? '';
  return '';
}

/** All constraints hold (AND); values compare case-insensitively, like docker's. */
export function matchesConstraints(node: Node, constraints: readonly Constraint[]): boolean {
  for (const c of constraints) {
    const equal = nodeAttribute(node, c.key).toLowerCase() === c.value.toLowerCase();
    if (equal !== (c.op === '==')) return false;
  }
  return true;
}
