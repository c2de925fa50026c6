import type { CommandRunner } from './command-runner.js';

export type DataPlaneKind = 'nftables+vxlan' | 'userland';

export interface Detection {
  readonly kind: DataPlaneKind;
  /** Why the kernel data plane cannot run here (empty when it can). */
  readonly reason: string;
}

/**
 * Whether this node can program the kernel: root, nft answering, and the kernel creating a VXLAN
 * device (module present). Checked once at start; a probe device is created and removed at once.
 */
export async function detectDataPlane(run: CommandRunner, isRoot: boolean): Promise<Detection> {
  if (!isRoot) return { kind: 'userland', reason: 'not running as root' };
  const nft = await run(['nft', 'list', 'tables']);
  if (nft.code !== 0)
    return { kind: 'userland', reason: `nftables unavailable: ${nft.stderr.trim() || `exit ${nft.code}`}` };
  const probe = 'swmvprobe';
  await run(['ip', 'link', 'del', probe]);
  const vx = await run(['ip', 'link', 'add', probe, 'type', 'vxlan', 'id', '1', 'dstport', '4789']);
  await run(['ip', 'link', 'del', probe]);
  if (vx.code !== 0)
    return { kind: 'userland', reason: `VXLAN unavailable: ${vx.stderr.trim() || `exit ${vx.code}`}` };
  return { kind: 'nftables+vxlan', reason: '' };
}
