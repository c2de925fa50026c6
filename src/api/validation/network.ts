import type { NetworkSpec } from '../objects/network.js';
import { checkBoolean, checkCidr, checkIpv4, checkLabels, checkName, checkString, invalid } from './rules.js';

export function validateNetworkSpec(spec: NetworkSpec): void {
  if (typeof spec !== 'object' || spec === null) throw invalid('spec', spec, 'is required');
  checkName('name', spec.name);
  checkLabels('labels', spec.labels);
  checkString('driver.name', spec.driver?.name, { required: true });
  spec.ipam?.configs?.forEach((c, i) => {
    checkCidr(`ipam.configs[${i}].subnet`, c.subnet);
    if (c.gateway !== undefined) checkIpv4(`ipam.configs[${i}].gateway`, c.gateway);
    if (c.range !== undefined) checkCidr(`ipam.configs[${i}].range`, c.range);
  });
  checkBoolean('attachable', spec.attachable);
  checkBoolean('ingress', spec.ingress);
  if (spec.ingress && spec.attachable)
    throw invalid('attachable', true, 'the ingress network cannot be attachable');
}
