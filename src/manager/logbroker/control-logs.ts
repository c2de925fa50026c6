import type {
  ControlServiceMethods,
  LogContext,
  LogControlMethods,
  LogSelector,
  NodeId,
  ServiceLogLine,
  ServiceLogsMessage,
  ServiceLogsRequest,
  TaskId,
} from '../../api/index.js';
import { InvalidArgumentError, NotFoundError, SwarmError } from '../../common/index.js';
import type { CallContext, Handlers, RpcClient } from '../../rpc/index.js';
import { resolveService } from '../control/services.js';
import { by, type MemoryStore, type ReadTx } from '../store/index.js';
import type { BrokerMessage, LogBroker } from './log-broker.js';

export interface LogControlDeps {
  readonly store: MemoryStore;
  readonly broker: LogBroker;
  /** Whether this manager leads now: only the leader's broker has the workers' streams. */
  readonly isLeader: () => boolean;
  /** The leader's inter-node address, if known. */
  readonly leaderAddr: () => string | undefined;
  /** Dials another manager's control API with this manager's certificate. */
  readonly dialManager: (addr: string) => RpcClient<ControlServiceMethods>;
}

/** Set on a call a follower forwards, so a leadership change cannot bounce it around. */
const PROXIED = 'x-swarmctl-logs-proxied';

/** `ServiceLogs`: served by the leader's broker; a follower forwards the call to the leader. */
export function logControlHandlers(deps: LogControlDeps): Handlers<LogControlMethods> {
  return { ServiceLogs: (req, ctx) => serviceLogs(deps, req, ctx) };
}

async function* serviceLogs(
  deps: LogControlDeps,
  req: ServiceLogsRequest,
  ctx: CallContext,
): AsyncIterable<ServiceLogsMessage> {
  const options = checkRequest(req);
  if (!deps.isLeader()) {
    yield* forward(deps, req, ctx);
    return;
  }
  const selector = deps.store.view((tx) => selectorOf(tx, req));
  const contexts = new Map<TaskId, LogContext>();
  const contextOf = (taskId: TaskId, nodeId: NodeId): LogContext => {
    let c = contexts.get(taskId);
    if (!c) {
      c = deps.store.view((tx) => describeTask(tx, taskId, nodeId, selector));
      contexts.set(taskId, c);
    }
    return c;
  };
  for await (const m of deps.broker.subscribe(selector, options, ctx.signal)) {
    // Workers follow the leader: once this manager no longer leads, nodes leave and do not come
    // back here. Say so rather than wait for them (the caller asks again, reaching the new leader).
    if (m.kind === 'node-error' && !deps.isLeader()) {
      throw new SwarmError('UNAVAILABLE', 'the leader changed while reading logs: run the command again', {
        retryable: true,
      });
    }
    for (const out of toClient(m, contextOf, (id) => deps.store.view((tx) => nodeName(tx, id)))) yield out;
  }
}

function* toClient(
  m: BrokerMessage,
  contextOf: (taskId: TaskId, nodeId: NodeId) => LogContext,
  nameOf: (nodeId: NodeId) => string,
): Iterable<ServiceLogsMessage> {
  if (m.kind === 'node-error') {
    yield { kind: 'node-error', nodeId: m.nodeId, nodeName: nameOf(m.nodeId), error: m.error };
    return;
  }
  // Consecutive lines of one task travel together (a publisher's batch is one task's).
  let run: { context: LogContext; lines: ServiceLogLine[] } | undefined;
  for (const l of m.lines) {
    if (run?.context.taskId !== l.taskId) {
      if (run) yield { kind: 'lines', ...run };
      run = { context: contextOf(l.taskId, m.nodeId), lines: [] };
    }
    run.lines.push({ stream: l.stream, line: l.line, timestamp: l.timestamp });
  }
  if (run) yield { kind: 'lines', ...run };
}

async function* forward(
  deps: LogControlDeps,
  req: ServiceLogsRequest,
  ctx: CallContext,
): AsyncIterable<ServiceLogsMessage> {
  const addr = deps.leaderAddr();
  if (ctx.metadata.get(PROXIED).length > 0 || !addr) {
    throw new SwarmError('UNAVAILABLE', 'no leader to read logs from (election under way?): try again', {
      retryable: true,
    });
  }
  const client = deps.dialManager(addr);
  try {
    yield* client.call.ServiceLogs(req, { signal: ctx.signal, metadata: { [PROXIED]: '1' } });
  } finally {
    client.close();
  }
}

function checkRequest(req: ServiceLogsRequest): { follow: boolean; tail?: number; since?: number } {
  if ((req.service === undefined) === (req.task === undefined)) {
    throw new InvalidArgumentError('service', 'give exactly one of a service or a task');
  }
  if (req.tail !== undefined && (!Number.isInteger(req.tail) || req.tail < 0)) {
    throw new InvalidArgumentError(
      'tail',
      `invalid --tail ${JSON.stringify(req.tail)}: must be a number ≥ 0`,
    );
  }
  if (req.since !== undefined && !Number.isFinite(req.since)) {
    throw new InvalidArgumentError('since', `invalid --since ${JSON.stringify(req.since)}`);
  }
  return {
    follow: req.follow === true,
    ...(req.tail !== undefined ? { tail: req.tail } : {}),
    ...(req.since !== undefined ? { since: req.since } : {}),
  };
}

/** A task by full id or unique prefix, as docker's CLI finds them. */
function resolveTask(tx: ReadTx, ref: string): TaskId {
  if (tx.get('task', ref)) return ref as TaskId;
  const prefixed = tx.find('task', by.idPrefix(ref));
  if (prefixed.length === 1) return prefixed[0]!.id;
  if (prefixed.length > 1)
    throw new InvalidArgumentError('task', `task ${ref} is ambiguous (${prefixed.length} matches)`);
  throw new NotFoundError('task', ref);
}

function selectorOf(tx: ReadTx, req: ServiceLogsRequest): LogSelector {
  if (req.task !== undefined) return { taskId: resolveTask(tx, req.task) };
  return { serviceId: resolveService(tx, req.service!).id };
}

function nodeName(tx: ReadTx, nodeId: NodeId): string {
  const n = tx.get('node', nodeId);
  return n?.description?.hostname ?? n?.spec.name ?? nodeId;
}

/** The line's origin; a task already deleted from the store keeps what the selector knows. */
function describeTask(tx: ReadTx, taskId: TaskId, nodeId: NodeId, selector: LogSelector): LogContext {
  const task = tx.get('task', taskId);
  const serviceId = task?.serviceId ?? ('serviceId' in selector ? selector.serviceId : undefined);
  const service = serviceId ? tx.get('service', serviceId) : undefined;
  return {
    serviceId: serviceId ?? ('' as LogContext['serviceId']),
    serviceName: task?.serviceName ?? service?.spec.name ?? serviceId ?? '',
    taskId,
    slot: task?.slot ?? 0,
    nodeId,
    nodeName: nodeName(tx, nodeId),
  };
}
