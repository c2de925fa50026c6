import type { LabHost, LabLayout } from './lab-layout.js';
import { runCommand } from './run-command.js';

async function ip(...args: string[]): Promise<void> {
  await runCommand(['ip', ...args], { timeoutMs: 15_000 });
}

/** The bridge in the root namespace that every host's veth joins, with the root's own lab address. */
export async function createBridge(layout: LabLayout): Promise<void> {
  await ip('link', 'add', layout.bridge, 'type', 'bridge');
  await ip('addr', 'add', `${layout.bridgeAddress}/24`, 'dev', layout.bridge);
  await ip('link', 'set', layout.bridge, 'up');
  await addForwardRule(layout);
}

/**
 * A dockerd in the root namespace sets FORWARD's policy to DROP, and with br_netfilter the
 * frames bridged between hosts traverse FORWARD too: let the lab's own traffic through.
 */
async function addForwardRule(layout: LabLayout): Promise<void> {
  await runCommand(
    [
      'iptables',
      '-w',
      '-I',
      'FORWARD',
      '-i',
      layout.bridge,
      '-o',
      layout.bridge,
      '-m',
      'comment',
      '--comment',
      layout.ruleComment,
      '-j',
      'ACCEPT',
    ],
    { timeoutMs: 15_000 },
  );
}

/**
 * A host: a namespace with loopback and `eth0` (the peer of a veth on the bridge) at its lab
 * address. No default route: a host reaches the lab subnet and nothing else.
 */
export async function createHostNetwork(
  layout: LabLayout,
  host: LabHost,
  rpFilter: 0 | 1 | 2 = 0,
): Promise<void> {
  const peer = `${host.netns}-p`;
  await ip('netns', 'add', host.netns);
  await ip('link', 'add', host.vethRoot, 'type', 'veth', 'peer', 'name', peer);
  await ip('link', 'set', peer, 'netns', host.netns);
  await ip('-n', host.netns, 'link', 'set', peer, 'name', 'eth0');
  await ip('-n', host.netns, 'addr', 'add', `${host.address}/24`, 'dev', 'eth0');
  await ip('-n', host.netns, 'link', 'set', 'lo', 'up');
  await ip('-n', host.netns, 'link', 'set', 'eth0', 'up');
  if (rpFilter !== 0) {
    const keys = ['all', 'default', 'eth0'].map((i) => `net.ipv4.conf.${i}.rp_filter=${rpFilter}`);
    await runCommand(['nsenter', `--net=${host.netnsPath}`, 'sysctl', '-q', '-w', ...keys], {
      timeoutMs: 15_000,
    });
  }
  await ip('link', 'set', host.vethRoot, 'master', layout.bridge);
  await ip('link', 'set', host.vethRoot, 'up');
}

/**
 * Cutting takes the host's bridge port down: frames neither leave nor reach the host, in both
 * directions, and connections time out as across a real partition. Healing brings it back up.
 */
export async function setLink(host: LabHost, up: boolean): Promise<void> {
  await ip('link', 'set', host.vethRoot, up ? 'up' : 'down');
}

export async function isLinkUp(host: LabHost): Promise<boolean> {
  const r = await runCommand(['ip', '-o', 'link', 'show', 'dev', host.vethRoot], { timeoutMs: 15_000 });
  return /<[^>]*\bUP\b[^>]*>/.test(r.stdout);
}
