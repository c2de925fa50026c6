import type Docker from 'dockerode';
import type { TaskId } from '../../api/index.js';
import type { TaskAddressLookup } from './userland-data-plane.js';

/** The label the executor puts on a task's container (docker's own name for it). */
const TASK_ID_LABEL = 'com.docker.swarm.task.id';

/**
 * A local task's container address as this node reaches it: its address on Docker's default
 * bridge (the container's only network when no overlay is attached), else on any network.
 */
export function dockerTaskAddress(docker: Pick<Docker, 'listContainers'>): TaskAddressLookup {
  return async (taskId: TaskId) => {
    const found = await docker.listContainers({
      filters: JSON.stringify({ label: [`${TASK_ID_LABEL}=${taskId}`], status: ['running'] }),
    });
    const nets = found[0]?.NetworkSettings?.Networks ?? {};
    const bridge = nets.bridge?.IPAddress;
    if (bridge) return bridge;
    return Object.values(nets).find((n) => n.IPAddress)?.IPAddress;
  };
}
