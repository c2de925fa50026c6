import type { Task } from '../../api/index.js';
import { SwarmError } from '../../common/index.js';
import type { CommandRunner } from './command-runner.js';
import { runCommand } from './kernel-ops.js';

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
export async function preferIngressSource(
  run: CommandRunner,
  pid: number,
  addr: string,
  route: DefaultRoute | undefined,
): Promise<void> {
  // No way out at all (a network mode without one): nothing answers through a default route.
  if (!route?.dev) return;
  const must = inContainer(run, pid);
  if (route.prefsrc !== addr) {
    const via = route.gateway ? ['via', route.gateway] : [];
    await must(['ip', 'route', 'replace', 'default', ...via, 'dev', route.dev, 'src', addr]);
  }
  const rpFilter = (await must(['sysctl', '-n', 'net.ipv4.conf.all.rp_filter'])).trim();
  if (rpFilter === '1') await must(['sysctl', '-q', '-w', 'net.ipv4.conf.all.rp_filter=2']);
}

/** A started container's default route (by Docker's bridge), if it has one. */
export async function containerDefaultRoute(
  run: CommandRunner,
  pid: number,
): Promise<DefaultRoute | undefined> {
  const routes = JSON.parse(
    (await inContainer(run, pid)(['ip', '-j', 'route', 'show', 'default'])) || '[]',
  ) as DefaultRoute[];
  return routes[0];
}

/** A host interface whose reverse-path filtering was made loose, and its value before. */
export interface LoosenedFilter {
  readonly dev: string;
  readonly before: string;
}

/**
 * Makes strict reverse-path filtering loose on the host's interface that holds `gateway` (the
 * Docker bridge of a task's default route), and says so; changes nothing under any other mode.
 *
 * A task reached through the mesh keeps the client's address, so its replies leave by its
 * default route: into the host by Docker's bridge, from the task's ingress address. The host's
 * route to that address is the ingress bridge, and strict filtering (1, the default of some
 * distributions) drops them there, for a task on the receiving node and on any other. The
 * effective mode is the larger of `all` and the interface's, so 2 on the interface is loose
 * whatever `all` says; the rest of the host keeps its mode.
 */
export async function looseHostReversePath(
  run: CommandRunner,
  gateway: string,
): Promise<LoosenedFilter | undefined> {
  const must = (argv: readonly string[]): Promise<string> => runCommand(run, argv);
  const holders = JSON.parse((await must(['ip', '-j', '-4', 'addr', 'show', 'to', gateway])) || '[]') as {
    ifname?: string;
  }[];
  const dev = holders[0]?.ifname;
  if (!dev) return undefined;
  // Slashes separate the key's parts, so an interface name with a dot stays one part.
  const key = `net/ipv4/conf/${dev}/rp_filter`;
  const all = (await must(['sysctl', '-n', 'net/ipv4/conf/all/rp_filter'])).trim();
  const before = (await must(['sysctl', '-n', key])).trim();
  if (Math.max(Number(all), Number(before)) !== 1) return undefined;
  await must(['sysctl', '-q', '-w', `${key}=2`]);
  return { dev, before };
}

/** Puts back an interface's mode; the interface may be gone by then (Docker removed it). */
export async function restoreHostReversePath(run: CommandRunner, f: LoosenedFilter): Promise<void> {
  await runCommand(run, ['sysctl', '-q', '-w', `net/ipv4/conf/${f.dev}/rp_filter=${f.before}`], true);
}

type Must = (argv: readonly string[]) => Promise<string>;

/** Runs a command in the namespace of `pid`; a failure is an IO error naming both. */
function inContainer(run: CommandRunner, pid: number): Must {
  return async (argv) => {
    const r = await run(['nsenter', `--net=/proc/${pid}/ns/net`, ...argv]);
    if (r.code !== 0) {
      throw new SwarmError('IO', `in the namespace of pid ${pid}: ${argv.join(' ')}: ${r.stderr.trim()}`, {
        details: { pid, command: argv.join(' ') },
      });
    }
    return r.stdout;
  };
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
export interface DefaultRoute {
  readonly gateway?: string;
  readonly dev?: string;
  readonly prefsrc?: string;
}
