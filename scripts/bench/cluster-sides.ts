/**
 * The two orchestrators under test, driven the way a user drives them: Docker Swarm mode through
 * the docker CLI against a lab host's engine, swarmctl through its own executable and control
 * socket. Each side has a manager host and a worker host in the same lab (docs/lab.md).
 */
import { waitFor } from '../../src/common/index.js';
import type { Lab } from '../../test/harness/lab.js';
import { type CommandResult, runCommand } from '../../test/harness/run-command.js';
import { hostCpuMs } from './host-cpu.js';

export type SideName = 'swarmctl' | 'swarm';

export interface ClusterSide {
  readonly name: SideName;
  readonly manager: number;
  readonly worker: number;
  /** A one-node cluster on the manager host. */
  init(): Promise<void>;
  /** Joins the worker host; returns its node ID. */
  joinWorker(): Promise<string>;
  /** `service create` detached, so the clock measures convergence and not the CLI's own wait. */
  create(service: string, replicas: number, image: string): Promise<void>;
  scale(service: string, replicas: number): Promise<void>;
  remove(service: string): Promise<void>;
  /** The manager's view of a node: 'ready', 'down', … */
  nodeState(nodeId: string): Promise<string>;
  /** CPU milliseconds so far of the manager host's engine and orchestrator (scripts/bench/host-cpu.ts). */
  cpuMs(): number;
}

/** The heartbeat period both sides run with (docker's dispatcher default, and ours). */
export const HEARTBEAT = '5s';

const CLI_TIMEOUT_MS = 60_000;

export function swarmSide(lab: Lab, manager: number, worker: number): ClusterSide {
  const docker = (n: number, ...args: string[]): Promise<CommandResult> =>
    lab.dockerCli(n, args, { timeoutMs: CLI_TIMEOUT_MS });
  return {
    name: 'swarm',
    manager,
    worker,
    async init() {
      await docker(
        manager,
        'swarm',
        'init',
        '--advertise-addr',
        lab.host(manager).address,
        '--dispatcher-heartbeat',
        HEARTBEAT,
      );
    },
    async joinWorker() {
      const token = (await docker(manager, 'swarm', 'join-token', '-q', 'worker')).stdout.trim();
      await docker(worker, 'swarm', 'join', '--token', token, `${lab.host(manager).address}:2377`);
      return (await docker(worker, 'info', '--format', '{{.Swarm.NodeID}}')).stdout.trim();
    },
    async create(service, replicas, image) {
      await docker(
        manager,
        'service',
        'create',
        '--detach',
        '--replicas',
        String(replicas),
        '--name',
        service,
        image,
      );
    },
    async scale(service, replicas) {
      await docker(manager, 'service', 'scale', '--detach', `${service}=${replicas}`);
    },
    async remove(service) {
      await docker(manager, 'service', 'rm', service);
    },
    async nodeState(nodeId) {
      return (
        await docker(manager, 'node', 'inspect', '--format', '{{.Status.State}}', nodeId)
      ).stdout.trim();
    },
    cpuMs: () => hostCpuMs(lab, manager),
  };
}

/** The lab process name of a host's swarmctl node (kept in the foreground, so teardown ends it). */
const PROC = 'swarmctl';

export function swarmctlSide(lab: Lab, bin: string, manager: number, worker: number): ClusterSide {
  const cli = (n: number, ...args: string[]): Promise<CommandResult> =>
    runCommand([bin, '-H', `unix://${lab.host(n).swarmctlSocket}`, ...args], { timeoutMs: CLI_TIMEOUT_MS });
  const nodeFlags = (n: number): string[] => {
    const h = lab.host(n);
    const addr = `${h.address}:2377`;
    return [
      '--state-dir',
      h.swarmctlStateDir,
      '--control-socket',
      h.swarmctlSocket,
      '--docker-host',
      h.dockerHost,
      '--listen-addr',
      addr,
      '--advertise-addr',
      addr,
      '--foreground',
    ];
  };
  const startNode = async (n: number, argv: string[]): Promise<string> => {
    lab.startProcess(n, [bin, ...argv, ...nodeFlags(n)], { name: PROC });
    const info = await waitFor(
      async () => {
        const r = await runCommand(
          [bin, '-H', `unix://${lab.host(n).swarmctlSocket}`, 'info', '--format', 'json'],
          {
            allowFailure: true,
            timeoutMs: 10_000,
          },
        );
        return r.code === 0 ? { done: true, value: r.stdout } : { done: false, state: r.stderr.trim() };
      },
      { timeoutMs: 60_000, intervalMs: 200, what: `the swarmctl node on host ${n} to answer` },
    );
    return (JSON.parse(info) as { node: { nodeId: string } }).node.nodeId;
  };
  return {
    name: 'swarmctl',
    manager,
    worker,
    async init() {
      await startNode(manager, ['init']);
    },
    async joinWorker() {
      const token = (await cli(manager, 'join-token', 'worker', '-q')).stdout.trim();
      return startNode(worker, ['join', '--token', token, `${lab.host(manager).address}:2377`]);
    },
    async create(service, replicas, image) {
      await cli(
        manager,
        'service',
        'create',
        '--detach',
        '--replicas',
        String(replicas),
        '--name',
        service,
        image,
      );
    },
    async scale(service, replicas) {
      await cli(manager, 'service', 'scale', '--detach', `${service}=${replicas}`);
    },
    async remove(service) {
      await cli(manager, 'service', 'rm', service);
    },
    async nodeState(nodeId) {
      const nodes = JSON.parse((await cli(manager, 'node', 'ls', '--format', 'json')).stdout) as {
        id: string;
        status: { state: string };
      }[];
      return nodes.find((x) => x.id === nodeId)?.status.state ?? 'unknown';
    },
    cpuMs: () => hostCpuMs(lab, manager, PROC),
  };
}
