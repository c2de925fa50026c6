/**
 * What the cluster tests share on top of SwarmNodes: checking CLI results, starting a cluster of
 * node processes on the machine's engine, waiting for its nodes and removing the containers its
 * nodes started (they carry their node ID as a label, so runs never touch each other's).
 */
import { execFileSync } from 'node:child_process';
import type { Network, Service } from '../../src/api/index.js';
import { waitFor } from '../../src/common/index.js';
import type { CliResult, SwarmNodes, TestNode } from './swarm-nodes.js';

/** The command's stdout; throws with its stderr when it failed. */
export function ok(r: CliResult): string {
  if (r.status !== 0) throw new Error(`exit ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/** The command's stderr; throws when it succeeded. */
export function fails(r: CliResult): string {
  if (r.status === 0) throw new Error(`expected a failure, got: ${r.stdout}`);
  return r.stderr;
}

/** The machine's docker CLI. */
export function docker(...args: string[]): string {
  return execFileSync('docker', args, { encoding: 'utf8' });
}

/** What `swarmctl info --format json` says that the tests look at. */
export interface NodeInfo {
  node: { nodeId: string; role: string; pid: number };
  cluster?: { leader: string | null; managers: { nodeId: string; reachability: string }[] };
}

/** The node's `info`, or undefined while it does not answer. */
export function nodeInfo(n: TestNode): NodeInfo | undefined {
  const r = n.cli('info', '--format', 'json');
  return r.status === 0 ? (JSON.parse(r.stdout) as NodeInfo) : undefined;
}

export function nodeIdOf(n: TestNode): string {
  return (JSON.parse(ok(n.cli('info', '--format', 'json'))) as NodeInfo).node.nodeId;
}

/**
 * Inits node 0 and joins one node per entry of `joinAs` through it, in order; returns every
 * node's ID, node 0 first.
 */
export function startCluster(
  nodes: SwarmNodes,
  joinAs: readonly ('manager' | 'worker')[],
  ...initFlags: string[]
): string[] {
  const first = nodes.node(0);
  ok(nodes.init(0, ...initFlags));
  joinAs.forEach((role, i) => {
    const token = ok(first.cli('join-token', role, '-q')).trim();
    ok(nodes.join(i + 1, token, first));
  });
  return nodes.nodes.map(nodeIdOf);
}

/** Waits until `n`'s `node ls` shows `count` nodes Ready. */
export async function waitForReady(n: TestNode, count: number, timeoutMs = 30_000): Promise<void> {
  await waitFor(
    () => {
      const ls = ok(n.cli('node', 'ls'));
      const ready = ls.split('\n').filter((l) => /\bReady\b/.test(l)).length;
      return ready === count ? { done: true, value: undefined } : { done: false, state: ls };
    },
    { timeoutMs, intervalMs: 200, what: `${count} ready nodes` },
  );
}

/** Removes every container (running or not) labelled with one of `nodeIds`. */
export function removeContainersOf(nodeIds: readonly string[]): void {
  for (const id of nodeIds) {
    const left = docker('ps', '-aq', '--filter', `label=com.docker.swarm.node.id=${id}`)
      .split('\n')
      .filter(Boolean);
    if (left.length > 0) docker('rm', '-f', ...left);
  }
}

/** Tears the nodes down, then removes what they left on the engine, even if teardown throws. */
export function stopCluster(nodes: SwarmNodes | undefined, nodeIds: readonly string[]): void {
  try {
    nodes?.teardown();
  } finally {
    removeContainersOf(nodeIds);
  }
}

export function inspectService(n: TestNode, ref: string): Service {
  return (JSON.parse(ok(n.cli('service', 'inspect', ref))) as Service[])[0]!;
}

export function inspectNetwork(n: TestNode, ref: string): Network {
  return (JSON.parse(ok(n.cli('network', 'inspect', ref))) as Network[])[0]!;
}
