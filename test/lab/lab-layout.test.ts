import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/common/index.js';
import { checkHostCount, hostLayout, ownsName, resolveLabLayout } from '../harness/lab-layout.js';

describe('lab layout', () => {
  it('derives every name, address and path from the prefix and subnet', () => {
    const layout = resolveLabLayout({ prefix: 'swq', subnet: '10.9.8' });
    const h2 = hostLayout(layout, 2);
    expect(layout).toMatchObject({ bridge: 'swq-br', bridgeAddress: '10.9.8.1', ruleComment: 'swq-lab' });
    expect(h2).toMatchObject({
      netns: 'swq-h2',
      netnsPath: '/run/netns/swq-h2',
      vethRoot: 'swq-h2-v',
      address: '10.9.8.12',
      dockerSocket: '/run/swarmctl-lab/swq/h2/docker.sock',
      dockerHost: 'unix:///run/swarmctl-lab/swq/h2/docker.sock',
      dockerDataRoot: '/var/lib/swarmctl-lab/swq/h2/docker',
      cgroupParent: '/swq-h2',
      swarmctlStateDir: '/var/lib/swarmctl-lab/swq/h2/swarmctl',
      swarmctlSocket: '/run/swarmctl-lab/swq/h2/swarmctl.sock',
    });
  });

  it('keeps interface names within the kernel limit of 15 characters', () => {
    const longest = hostLayout(resolveLabLayout({ prefix: 'abcdefgh' }), 20);
    expect(longest.vethRoot).toBe('abcdefgh-h20-v');
    expect(`${longest.netns}-p`.length).toBeLessThanOrEqual(15);
  });

  it('owns only names that carry its prefix and a dash', () => {
    const layout = resolveLabLayout({ prefix: 'swl' });
    expect(ownsName(layout, 'swl-h1')).toBe(true);
    expect(ownsName(layout, 'swl2-h1')).toBe(false);
    expect(ownsName(layout, 'swlh1')).toBe(false);
  });

  it.each([
    ['prefix', { prefix: 'Swl' }],
    ['prefix', { prefix: 'a-b' }],
    ['prefix', { prefix: 'abcdefghi' }],
    ['prefix', { prefix: '1abc' }],
    ['subnet', { subnet: '10.213.0.0' }],
    ['subnet', { subnet: '10.300.0' }],
  ])('rejects a bad %s naming the field: %j', (field, options) => {
    const call = (): unknown => resolveLabLayout(options);
    expect(call).toThrow(InvalidArgumentError);
    expect(call).toThrow(expect.objectContaining({ field }));
  });

  it.each([0, 21, 1.5])('rejects host count %d', (count) => {
    expect(() => checkHostCount(count)).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', field: 'hosts' }),
    );
  });
});
