/**
 * The two orchestrators under test, driven the way a user drives them: Docker Swarm mode through
 * the docker CLI against a lab host's engine, swarmctl through its own executable and control
 * socket. Each side has a manager host and a worker host in the same lab (docs/lab.md).
 */
import type { Lab } from '../../test/harness/lab.js';
import { LabSwarm, NODE_PROC } from '../../test/harness/lab-swarm.js';
import type { CommandResult } from '../../test/harness/run-command.js';
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

/** `service create/scale/rm`: the same words on both CLIs, run by `cli` against the manager. */
function serviceVerbs(
  cli: (...args: string[]) => Promise<CommandResult>,
): Pick<ClusterSide, 'create' | 'scale' | 'remove'> {
  return {
    async create(service, replicas, image) {
      await cli('service', 'create', '--detach', '--replicas', String(replicas), '--name', service, image);
    },
    async scale(service, replicas) {
      await cli('service', 'scale', '--detach', `${service}=${replicas}`);
    },
    async remove(service) {
      await cli('service', 'rm', service);
    },
  };
}

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
    ...serviceVerbs((...args) => docker(manager, ...args)),
    async nodeState(nodeId) {
      return (
        await docker(manager, 'node', 'inspect', '--format', '{{.Status.State}}', nodeId)
      ).stdout.trim();
    },
    cpuMs: () => hostCpuMs(lab, manager),
  };
}

export function swarmctlSide(lab: Lab, bin: string, manager: number, worker: number): ClusterSide {
  const swarm = new LabSwarm(lab, { bin });
  const cli = (n: number, ...args: string[]): Promise<CommandResult> =>
    swarm.run(n, args, { timeoutMs: CLI_TIMEOUT_MS });
  return {
    name: 'swarmctl',
    manager,
    worker,
    async init() {
      await swarm.init(manager);
    },
    joinWorker: () => swarm.join(worker, 'worker', manager),
    ...serviceVerbs((...args) => cli(manager, ...args)),
    async nodeState(nodeId) {
      return (await swarm.nodes(manager)).find((x) => x.id === nodeId)?.status.state ?? 'unknown';
    },
    cpuMs: () => hostCpuMs(lab, manager, NODE_PROC),
  };
}
