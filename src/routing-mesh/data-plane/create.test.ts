import { describe, expect, it } from 'vitest';
import type { NetworkId, NodeId } from '../../api/index.js';
import { noopLogger, systemClock, systemRandom } from '../../common/index.js';
import type { CommandRunner } from './command-runner.js';
import { createDataPlane } from './create.js';
import { detectDataPlane } from './detect.js';

function runner(fail: (argv: readonly string[]) => boolean): { run: CommandRunner; calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    run: async (argv) => {
      calls.push(argv.join(' '));
      return fail(argv)
        ? { code: 1, stdout: '', stderr: 'Error: Unknown device type.' }
        : { code: 0, stdout: '', stderr: '' };
    },
  };
}

describe('data plane selection', () => {
  it('the kernel one where nft answers and a VXLAN device can be made', async () => {
    const r = runner(() => false);
    expect(await detectDataPlane(r.run, true)).toEqual({ kind: 'nftables+vxlan', reason: '' });
    expect(r.calls).toContain('ip link add swmvprobe type vxlan id 1 dstport 4789');
    expect(r.calls.at(-1)).toBe('ip link del swmvprobe');
  });

  it('the userland proxy when not root, without nft, or without VXLAN, saying why', async () => {
    expect(await detectDataPlane(runner(() => false).run, false)).toEqual({
      kind: 'userland',
      reason: 'not running as root',
    });
    expect((await detectDataPlane(runner((a) => a[0] === 'nft').run, true)).reason).toMatch(
      /^nftables unavailable/,
    );
    expect((await detectDataPlane(runner((a) => a.includes('add')).run, true)).reason).toBe(
      'VXLAN unavailable: Error: Unknown device type.',
    );
  });

  it('a node without the kernel data plane serves published ports in user space and refuses overlays', async () => {
    const dp = await createDataPlane({
      nodeId: 'n1' as NodeId,
      docker: undefined,
      logger: noopLogger,
      clock: systemClock,
      random: systemRandom,
      removeAllOnStop: () => true,
      run: runner(() => false).run,
      isRoot: false,
    });
    expect(dp.kind).toBe('userland');
    await expect(dp.networkNames(['net1' as NetworkId], 10)).rejects.toMatchObject({
      code: 'FAILED_PRECONDITION',
    });
  });
});
