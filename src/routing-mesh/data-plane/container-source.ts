import type { Task } from '../../api/index.js';
import { SwarmError } from '../../common/index.js';
import type { CommandRunner } from './command-runner.js';

/**
 * Makes a started container's datagrams through the mesh leave from its ingress address.
 *
 * The container's default route is Docker's bridge (its way out), its ingress address is on the
 * ingress overlay. A socket bound to any address answers a datagram from the address of its
 * route to the client: the bridge one. Such a reply misses the flow's conntrack entry, so it is
 * neither un-DNATed nor sent back through the receiving node: it is masqueraded as a new flow,
 * from another address, and a client that connected its socket (most do) drops it. TCP is not
 * affected: an accepted connection answers from the address it was reached at.
 *
 * The ingress address as the default route's preferred source fixes that. Outbound traffic from
 * it leaves by the bridge as before and is masqueraded by Docker's rule for the ingress network;
 * its answers come back by the ingress interface, so strict reverse-path filtering in the
 * container (1) becomes loose (2).
 */
export async function preferIngressSource(run: CommandRunner, pid: number, addr: string): Promise<void> {
  const inNs = (argv: readonly string[]): readonly string[] => [
    'nsenter',
    `--net=/proc/${pid}/ns/net`,
    ...argv,
  ];
  const must = async (argv: readonly string[]): Promise<string> => {
    const r = await run(inNs(argv));
    if (r.code !== 0) {
      throw new SwarmError('IO', `in the namespace of pid ${pid}: ${argv.join(' ')}: ${r.stderr.trim()}`, {
        details: { pid, command: argv.join(' ') },
      });
    }
    return r.stdout;
  };
  const routes = JSON.parse((await must(['ip', '-j', 'route', 'show', 'default'])) || '[]') as DefaultRoute[];
  const route = routes[0];
  // No way out at all (a network mode without one): nothing answers through a default route.
  if (!route?.dev) return;
  if (route.prefsrc !== addr) {
    const via = route.gateway ? ['via', route.gateway] : [];
    await must(['ip', 'route', 'replace', 'default', ...via, 'dev', route.dev, 'src', addr]);
  }
  const rpFilter = (await must(['sysctl', '-n', 'net.ipv4.conf.all.rp_filter'])).trim();
  if (rpFilter === '1') await must(['sysctl', '-q', '-w', 'net.ipv4.conf.all.rp_filter=2']);
}

/**
 * The published ports of a task's host-mode UDP ports. Docker DNATs them to the container's
 * bridge address, so their replies must keep leaving from it: one route source cannot serve
 * both paths, and host mode, which works as in Docker, wins. UDP through the ingress is then
 * answered from the bridge address (connected clients drop it).
 */
export function hostModeUdpPorts(task: Task): number[] {
  return (task.endpoint?.ports ?? [])
    .filter((p) => p.publishMode === 'host' && p.protocol === 'udp')
    .map((p) => p.publishedPort);
}

/** What `ip -j route show default` says of a route (the fields used here). */
interface DefaultRoute {
  readonly gateway?: string;
  readonly dev?: string;
  readonly prefsrc?: string;
}
