import { errorMessage, type Logger } from '../common/index.js';
import type { MeshDataPlane } from '../routing-mesh/index.js';
import type { Agent, DockerExecutor } from '../worker/index.js';

/** How long a leave gives the node's task containers to stop (each its own stop grace) and go. */
export const LEAVE_CONTAINERS_TIMEOUT_MS = 30_000;
/** How long a `leave` call waits for the node to have left: its containers, then the data plane's teardown. */
export const LEAVE_TIMEOUT_MS = LEAVE_CONTAINERS_TIMEOUT_MS + 30_000;
/** After this long, a part still stopping is named in the log. */
const STOPPING_WARN_MS = 10_000;

export interface AgentParts {
  readonly agent: Pick<Agent, 'run'>;
  readonly executor: Pick<DockerExecutor, 'run' | 'removeUnownedContainers'>;
  readonly mesh: Pick<MeshDataPlane, 'run'>;
  readonly logger: Logger;
  /** True once the node is leaving the swarm. */
  readonly leaving: () => boolean;
}

/**
 * Runs the agent, the executor's engine events and the data plane until `signal`, then stops
 * them in order and resolves only once all have ended: the agent first (nothing starts a task
 * or attaches a container after it); on leave, the task containers go, as docker's leave removes
 * them (a container still on an overlay would also keep its network busy); then the engine
 * events and the data plane, whose teardown (every rule, device and network of ours) is awaited.
 */
export async function runAgentParts(parts: AgentParts, signal: AbortSignal): Promise<void> {
  const { agent, executor, mesh, logger } = parts;
  const rest = new AbortController();
  const failed =
    (part: string, stopping: AbortSignal) =>
    (e: unknown): void => {
      if (!stopping.aborted) logger.error('a part of the agent stopped', { part, error: errorMessage(e) });
    };
  const running = new Set<string>();
  const part = (name: string, p: Promise<void>): Promise<void> => {
    running.add(name);
    return p.catch(failed(name, rest.signal)).finally(() => running.delete(name));
  };
  const others = [
    part('engine events', executor.run(rest.signal)),
    part('data plane', mesh.run(rest.signal)),
  ];
  try {
    await agent.run(signal).catch(failed('agent', signal));
    // An agent that failed by itself leaves the others running until the node stops, as before.
    if (!signal.aborted) await new Promise((r) => signal.addEventListener('abort', r, { once: true }));
    if (parts.leaving()) {
      const removed = await executor
        .removeUnownedContainers(new Set(), AbortSignal.timeout(LEAVE_CONTAINERS_TIMEOUT_MS))
        .catch((e: unknown) => {
          logger.warn('could not remove every task container on leave', { error: errorMessage(e) });
          return [];
        });
      logger.info('task containers removed on leave', { count: removed.length });
    }
  } finally {
    rest.abort();
    // A part that does not end keeps a leave waiting: say which, so its log names the culprit.
    const slow = setTimeout(
      () => logger.warn('still stopping', { parts: [...running].join(', '), waitedMs: STOPPING_WARN_MS }),
      STOPPING_WARN_MS,
    );
    await Promise.all(others).finally(() => clearTimeout(slow));
  }
}
