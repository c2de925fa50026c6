import type { NetworkSpec } from '../objects/network.js';
import { checkBoolean, checkCidr, checkIpv4, checkLabels, checkName, checkString, invalid } from './rules.js';

export function validateNetworkSpec(spec: NetworkSpec): void {
  if (typeof spec !== 'object' || spec === null) throw invalid('spec', spec, 'is required');
  checkName('name', spec.name);
  checkLabels('labels', spec.labels);
  checkString('driver.name', spec.driver?.name, { required: true });
  if (spec.driver.name !== 'overlay')
    throw invalid(
      'driver.name',
      spec.driver.name,
      'is not supported: only the overlay driver is (-d overlay)',
    );
  if ((spec.ipam?.configs?.length ?? 0) > 1)
    throw invalid('ipam.configs', spec.ipam?.configs?.length, 'must hold at most one subnet');
  spec.ipam?.configs?.forEach((c, i) => {
    checkCidr(`ipam.configs[${i}].subnet`, c.subnet);
    if (c.gateway !== undefined) {
      checkIpv4(`ipam.configs[${i}].gateway`, c.gateway);
      if (!inSubnet(c.subnet, c.gateway))
        throw invalid(`ipam.configs[${i}].gateway`, c.gateway, `is not inside subnet ${c.subnet}`);
    }
    if (c.range !== undefined) checkCidr(`ipam.configs[${i}].range`, c.range);
  });
  checkBoolean('attachable', spec.attachable);
  checkBoolean('ingress', spec.ingress);
  if (spec.ingress && spec.attachable)
    throw invalid('attachable', true, 'the ingress network cannot be attachable');
}

function toInt(ip: string): number {
  return ip.split('.').reduce((acc, p) => acc * 256 + Number(p), 0);
}

/** A host address of the subnet: inside it, and neither its network nor its broadcast address. */
function inSubnet(cidr: string, ip: string): boolean {
  const [base, bits] = cidr.split('/');
  const size = 2 ** (32 - Number(bits));
  const start = Math.floor(toInt(base!) / size) * size;
  const n = toInt(ip);
  return n > start && n < start + size - 1;
}
