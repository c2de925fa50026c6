import { describe, expect, it } from 'vitest';
import { resolveDaemonConfig } from './config.js';

describe('daemon config: the data plane choice', () => {
  it('is auto by default, taken from --data-plane, else from SWARMCTL_DATA_PLANE', () => {
    expect(resolveDaemonConfig({}, {}).dataPlane).toBe('auto');
    expect(resolveDaemonConfig({ dataPlane: 'userland' }, {}).dataPlane).toBe('userland');
    expect(resolveDaemonConfig({}, { SWARMCTL_DATA_PLANE: 'userland' }).dataPlane).toBe('userland');
    expect(
      resolveDaemonConfig({ dataPlane: 'nftables+vxlan' }, { SWARMCTL_DATA_PLANE: 'userland' }).dataPlane,
    ).toBe('nftables+vxlan');
  });

  it('refuses an unknown value, naming where it came from and the value', () => {
    expect(() => resolveDaemonConfig({ dataPlane: 'ipvs' }, {})).toThrow(
      'invalid --data-plane "ipvs": must be auto, nftables+vxlan, userland',
    );
    expect(() => resolveDaemonConfig({}, { SWARMCTL_DATA_PLANE: 'user' })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', field: 'SWARMCTL_DATA_PLANE' }),
    );
  });
});
