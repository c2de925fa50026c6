import { existsSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { SwarmError, waitFor } from '../../src/common/index.js';
import { LAB_ENV_MARKER, type LabLayout, ownsName } from './lab-layout.js';
import { isAlive, listPids, type ProcInfo, readProc, selfAndAncestors, terminate } from './lab-procs.js';
import { runCommand } from './run-command.js';

/** Everything of a lab that exists on the machine; all empty means nothing is left behind. */
export interface LabLeftovers {
  netns: string[];
  links: string[];
  rules: string[];
  processes: string[];
  mounts: string[];
  cgroups: string[];
  dirs: string[];
}

export function isClean(l: LabLeftovers): boolean {
  return Object.values(l).every((items: string[]) => items.length === 0);
}

export function describeLeftovers(l: LabLeftovers): string {
  const parts = Object.entries(l)
    .filter(([, items]: [string, string[]]) => items.length > 0)
    .map(([kind, items]: [string, string[]]) => `${kind}: ${items.join(', ')}`);
  return parts.length === 0 ? 'nothing' : parts.join('; ');
}

async function labNetns(layout: LabLayout): Promise<string[]> {
  const names = new Set<string>();
  const r = await runCommand(['ip', 'netns', 'list'], { allowFailure: true });
  for (const line of r.stdout.split('\n')) {
    const name = line.split(' ')[0];
    if (name && ownsName(layout, name)) names.add(name);
  }
  // A file left in /run/netns without its bind mount is not listed as a namespace, yet is ours.
  if (existsSync('/run/netns')) {
    for (const f of readdirSync('/run/netns')) if (ownsName(layout, f)) names.add(f);
  }
  return [...names].sort();
}

async function labLinks(layout: LabLayout): Promise<string[]> {
  const r = await runCommand(['ip', '-o', 'link', 'show'], { allowFailure: true });
  return r.stdout
    .split('\n')
    .map((line) => /^\d+:\s+([^:@\s]+)/.exec(line)?.[1])
    .filter((name): name is string => name !== undefined && ownsName(layout, name));
}

async function labRules(layout: LabLayout): Promise<string[]> {
  const r = await runCommand(['iptables-save'], { allowFailure: true });
  const re = new RegExp(`--comment "?${layout.ruleComment}"?(\\s|$)`);
  return r.stdout.split('\n').filter((line) => re.test(line));
}

function labMounts(layout: LabLayout): string[] {
  const roots = [`${layout.runDir}/`, `${layout.dataDir}/`];
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((mp): mp is string => mp !== undefined)
    .filter(
      (mp) =>
        roots.some((root) => `${mp}/`.startsWith(root)) ||
        (mp.startsWith('/run/netns/') && ownsName(layout, mp.slice('/run/netns/'.length))),
    );
}

function labCgroups(layout: LabLayout): string[] {
  const re = new RegExp(`^${layout.prefix}-h\\d+$`);
  const found: string[] = [];
  const root = '/sys/fs/cgroup';
  if (!existsSync(root)) return found;
  for (const entry of readdirSync(root, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const dir = join(root, entry.name);
    if (re.test(entry.name)) {
      found.push(dir); // cgroup v2: our parent sits at the top
      continue;
    }
    try {
      for (const child of readdirSync(dir, { withFileTypes: true })) {
        if (child.isDirectory() && re.test(child.name)) found.push(join(dir, child.name));
      }
    } catch {
      // not a hierarchy we may read
    }
  }
  return found;
}

function netnsInodes(names: readonly string[]): Set<number> {
  const inodes = new Set<number>();
  for (const name of names) {
    try {
      inodes.add(statSync(`/run/netns/${name}`).ino);
    } catch {
      // gone meanwhile
    }
  }
  return inodes;
}

/**
 * The lab's processes: those carrying its environment marker (dockerd and what it starts,
 * processes from Lab.startProcess), naming its directories (containerd, shims), living in its
 * namespaces, or in its containers' cgroups.
 */
function labProcesses(layout: LabLayout, inodes: ReadonlySet<number>): ProcInfo[] {
  const marker = `${LAB_ENV_MARKER}=${layout.prefix}`;
  const cgroupRe = new RegExp(`/${layout.prefix}-h\\d+(/|$)`);
  const spared = selfAndAncestors();
  const found: ProcInfo[] = [];
  for (const pid of listPids()) {
    if (spared.has(pid)) continue;
    const p = readProc(pid);
    if (p === undefined || !isAlive(pid)) continue;
    if (
      p.environ.includes(marker) ||
      p.cmdline.includes(`${layout.runDir}/`) ||
      p.cmdline.includes(`${layout.dataDir}/`) ||
      (p.netnsInode !== undefined && inodes.has(p.netnsInode)) ||
      p.cgroups.some((c) => cgroupRe.test(c))
    ) {
      found.push(p);
    }
  }
  return found;
}

export async function findLeftovers(layout: LabLayout): Promise<LabLeftovers> {
  const netns = await labNetns(layout);
  return {
    netns,
    links: await labLinks(layout),
    rules: await labRules(layout),
    processes: labProcesses(layout, netnsInodes(netns)).map((p) => `${p.pid} ${p.cmdline.slice(0, 120)}`),
    mounts: labMounts(layout),
    cgroups: labCgroups(layout),
    dirs: [layout.runDir, layout.dataDir].filter((d) => existsSync(d)),
  };
}

async function killLabProcesses(layout: LabLayout, inodes: ReadonlySet<number>): Promise<void> {
  // Engines first and gently: a dockerd that stops on SIGTERM stops its containers and unmounts.
  const engines = labProcesses(layout, inodes).filter((p) => /(^|\/)dockerd( |$)/.test(p.cmdline));
  await terminate(
    engines.map((p) => p.pid),
    20_000,
    'lab engines to stop',
  );
  // Then the rest; new ones may appear while their parents die, hence a few rounds.
  for (let round = 0; round < 5; round++) {
    const rest = labProcesses(layout, inodes);
    if (rest.length === 0) return;
    await terminate(
      rest.map((p) => p.pid),
      3_000,
      'lab processes to exit',
    );
  }
}

async function deleteRules(layout: LabLayout): Promise<void> {
  const chains = new Set<string>();
  for (const line of await labRules(layout)) {
    const m = /^-A (\S+) /.exec(line);
    if (m?.[1]) chains.add(m[1]);
  }
  for (const chain of chains) {
    const r = await runCommand(['iptables', '-w', '-L', chain, '-n', '--line-numbers'], {
      allowFailure: true,
    });
    const numbers = r.stdout
      .split('\n')
      .filter((l) => l.includes(`/* ${layout.ruleComment} */`))
      .map((l) => Number(l.split(/\s+/)[0]))
      .filter((n) => Number.isInteger(n) && n > 0)
      .sort((a, b) => b - a); // from the bottom, so the numbers above stay valid
    for (const n of numbers)
      await runCommand(['iptables', '-w', '-D', chain, String(n)], { allowFailure: true });
  }
}

async function unmountAll(layout: LabLayout): Promise<void> {
  // Deepest first: a mount inside another must go before its parent.
  const mounts = labMounts(layout).sort((a, b) => b.length - a.length);
  for (const mp of mounts) {
    if (mp.startsWith('/run/netns/')) continue; // `ip netns del` unmounts these
    const r = await runCommand(['umount', mp], { allowFailure: true });
    if (r.code !== 0) await runCommand(['umount', '--lazy', mp], { allowFailure: true });
  }
}

function removeCgroups(layout: LabLayout): void {
  const removeTree = (dir: string): void => {
    for (const child of readdirSync(dir, { withFileTypes: true })) {
      if (child.isDirectory()) removeTree(join(dir, child.name));
    }
    rmdirSync(dir); // cgroupfs: rmdir removes a group (its files are virtual); fails if still in use
  };
  for (const dir of labCgroups(layout)) {
    try {
      removeTree(dir);
    } catch {
      // reported by the final leftover check
    }
  }
}

/**
 * Removes everything that carries the lab's prefix, whether a live lab or the remains of a
 * crashed run, and nothing else. Idempotent; throws when something could not be removed.
 */
export async function cleanupLab(layout: LabLayout, options: { timeoutMs?: number } = {}): Promise<void> {
  const netns = await labNetns(layout);
  await killLabProcesses(layout, netnsInodes(netns));
  await unmountAll(layout);
  removeCgroups(layout);
  await deleteRules(layout);
  const links = await labLinks(layout);
  // Veths before the bridge; deleting one end of a veth removes its peer in the namespace.
  for (const link of links.filter((l) => l !== layout.bridge)) {
    await runCommand(['ip', 'link', 'del', link], { allowFailure: true });
  }
  if (links.includes(layout.bridge))
    await runCommand(['ip', 'link', 'del', layout.bridge], { allowFailure: true });
  for (const name of netns) {
    const r = await runCommand(['ip', 'netns', 'del', name], { allowFailure: true });
    if (r.code !== 0) rmSync(`/run/netns/${name}`, { force: true });
  }
  if (labMounts(layout).length === 0) {
    // Only with no mount left below them: removing through a mount would delete what it shows.
    rmSync(layout.runDir, { recursive: true, force: true });
    rmSync(layout.dataDir, { recursive: true, force: true });
  }
  await waitFor(
    async () => {
      const left = await findLeftovers(layout);
      return isClean(left)
        ? { done: true, value: undefined }
        : { done: false, state: describeLeftovers(left) };
    },
    { timeoutMs: options.timeoutMs ?? 15_000, intervalMs: 100, what: `lab ${layout.prefix} to be gone` },
  ).catch(async (e: unknown) => {
    const left = describeLeftovers(await findLeftovers(layout));
    throw new SwarmError('FAILED_PRECONDITION', `cleanup of lab ${layout.prefix} left ${left}`, { cause: e });
  });
}
