import type { NodeSpec } from '../objects/node.js';
import { checkLabels, checkName, checkOneOf, invalid } from './rules.js';

export function validateNodeSpec(spec: NodeSpec): void {
  if (typeof spec !== 'object' || spec === null) throw invalid('spec', spec, 'is required');
  if (spec.name !== undefined && spec.name !== '') checkName('name', spec.name);
  checkLabels('labels', spec.labels);
  checkOneOf('desiredRole', spec.desiredRole, ['manager', 'worker']);
  checkOneOf('availability', spec.availability, ['active', 'pause', 'drain']);
}
