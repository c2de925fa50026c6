import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import type { NodeId, PortConfig, ServiceId, Task, TaskId, TaskSpec } from '../../../api/index.js';
import { generateId } from '../../../api/index.js';
import { DockerExecutor } from './docker-executor.js';

/**
 * Fixtures for the executor's engine tests. Every container a run creates carries
 * RUN_LABEL=<run id> (a user container label), so cleanup removes exactly this run's containers.
 */
export const RUN_LABEL = 'swarmctl.test.run';

export interface TestRun {
  readonly runId: string;
  readonly nodeId: NodeId;
  /** A fresh task of a service named `<run id>-<service>`. */
  task(service: string, spec: Partial<TaskSpec['container']>, extra?: TaskExtras): Task;
  executor(dockerHost?: string): Promise<DockerExecutor>;
}

export interface TaskExtras {
  readonly slot?: number;
  readonly resources?: TaskSpec['resources'];
  readonly ports?: readonly PortConfig[];
}

export function testRun(prefix: string): TestRun {
  const runId = `${prefix}${randomBytes(4).toString('hex')}`;
  const nodeId = generateId<NodeId>(randomBytes);
  return {
    runId,
    nodeId,
    task(service, container, extra = {}) {
      const serviceId = generateId<ServiceId>(randomBytes);
      return {
        id: generateId<TaskId>(randomBytes),
        meta: { version: 1, createdAt: Date.now(), updatedAt: Date.now() },
        serviceId,
        slot: extra.slot ?? 1,
        nodeId,
        desiredState: 'running',
        spec: {
          container: {
            image: 'swarmctl-test/web:v1',
            ...container,
            labels: { ...container.labels, [RUN_LABEL]: runId },
          },
          ...(extra.resources && { resources: extra.resources }),
        },
        specVersion: 1,
        status: { state: 'assigned', timestamp: Date.now(), message: 'assigned' },
        serviceName: `${runId}-${service}`,
        ...(extra.ports && {
          endpoint: { spec: { mode: 'vip', ports: extra.ports }, ports: extra.ports, virtualIps: [] },
        }),
      };
    },
    executor(dockerHost) {
      return DockerExecutor.create({ nodeId, ...(dockerHost !== undefined && { dockerHost }) });
    },
  };
}

const run = promisify(execFile);

/** The docker CLI, for what a user would do by hand (kill, exec) and for cross-checking. */
export async function dockerCli(args: readonly string[], timeoutMs = 30_000): Promise<string> {
  const { stdout } = await run('docker', [...args], { timeout: timeoutMs });
  return stdout.trim();
}

/** Fails with a message that says what to do when no engine answers. */
export async function assertDockerAnswers(): Promise<void> {
  try {
    await dockerCli(['info', '--format', '{{.ServerVersion}}'], 10_000);
  } catch (e) {
    throw new Error(
      `these tests need a Docker engine on /var/run/docker.sock and the test images: run \`bash scripts/ensure-docker.sh && bash scripts/build-images.sh\` (docker info failed: ${e instanceof Error ? e.message : String(e)})`,
    );
  }
}

/** Removes every container (and volume) a run created. */
export async function removeRunResources(runId: string): Promise<void> {
  const filter = `label=${RUN_LABEL}=${runId}`;
  const ids = (await dockerCli(['ps', '-aq', '--filter', filter])).split('\n').filter(Boolean);
  if (ids.length > 0) await dockerCli(['rm', '-f', '-v', ...ids]);
  const volumes = (await dockerCli(['volume', 'ls', '-q', '--filter', filter])).split('\n').filter(Boolean);
  if (volumes.length > 0) await dockerCli(['volume', 'rm', '-f', ...volumes]);
}

/** The parts of `docker inspect` the tests read; values stay `unknown` and are checked by assertions. */
export interface InspectJson {
  readonly Name: string;
  readonly Config: Readonly<Record<string, unknown>>;
  readonly HostConfig: Readonly<Record<string, unknown>>;
  readonly State: Readonly<Record<string, unknown>>;
}

export async function inspect(id: string): Promise<InspectJson> {
  const [first] = JSON.parse(await dockerCli(['inspect', id])) as InspectJson[];
  if (!first) throw new Error(`docker inspect ${id} returned nothing`);
  return first;
}
