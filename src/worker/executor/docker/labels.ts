import type { NodeId, Task } from '../../../api/index.js';

/** Docker's own label names, so that `docker ps --filter label=…` habits carry over. */
export const LABEL_SERVICE_ID = 'com.docker.swarm.service.id';
export const LABEL_SERVICE_NAME = 'com.docker.swarm.service.name';
export const LABEL_TASK = 'com.docker.swarm.task';
export const LABEL_TASK_ID = 'com.docker.swarm.task.id';
export const LABEL_TASK_NAME = 'com.docker.swarm.task.name';
export const LABEL_NODE_ID = 'com.docker.swarm.node.id';

/**
 * `<service>.<slot>.<task id>` for replicated tasks, `<service>.<node id>.<task id>` for global
 * ones (slot 0), as docker names them. Also the task's name in `service ps`.
 */
export function taskName(task: Task, nodeId: NodeId): string {
  const middle = task.slot > 0 ? String(task.slot) : (task.nodeId ?? nodeId);
  return `${task.serviceName}.${middle}.${task.id}`;
}

/** The user's container labels, then ours: a user label cannot fake our bookkeeping. */
export function containerLabels(task: Task, nodeId: NodeId): Record<string, string> {
  return {
    ...task.spec.container.labels,
    [LABEL_TASK]: '',
    [LABEL_SERVICE_ID]: task.serviceId,
    [LABEL_SERVICE_NAME]: task.serviceName,
    [LABEL_TASK_ID]: task.id,
    [LABEL_TASK_NAME]: taskName(task, nodeId),
    [LABEL_NODE_ID]: nodeId,
  };
}

/** Engine filter selecting this node's task containers (and nobody else's, Docker Swarm's included). */
export function managedLabelFilter(nodeId: NodeId): string[] {
  return [LABEL_TASK_ID, `${LABEL_NODE_ID}=${nodeId}`];
}
