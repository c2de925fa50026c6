import { describe, expect, it } from 'vitest';
import { dataPlaneText } from './node.js';

describe('info: the data plane line', () => {
  it('names the kernel data plane, the fallback with its reason, or none yet', () => {
    expect(dataPlaneText({ kind: 'nftables+vxlan' })).toBe('nftables+vxlan');
    expect(dataPlaneText({ kind: 'userland', reason: 'not running as root' })).toBe(
      'userland (not running as root; published ports on every node, relayed between nodes; user overlays local to each node (VIPs on declared ports, DNS of local tasks), no container traffic between nodes; client address not kept)',
    );
    expect(dataPlaneText({ kind: 'userland', reason: 'r', covers: 'published ports only' })).toBe(
      'userland (r; published ports only)',
    );
    expect(dataPlaneText(undefined)).toBe('not started');
  });
});
