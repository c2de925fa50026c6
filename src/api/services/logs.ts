import { clientStream, defineService, emptyCodec, jsonCodec, serverStream } from '../../rpc/index.js';
import type { NodeId, ServiceId, TaskId } from '../ids.js';

/** Which containers a subscription reads: every task of a service, or one task. */
export type LogSelector = { readonly serviceId: ServiceId } | { readonly taskId: TaskId };

export interface LogSubscriptionOptions {
  /** Keep streaming (and pick up tasks started later) until the subscription is closed. */
  readonly follow: boolean;
  /** The last N lines of each task's existing output. */
  readonly tail?: number;
  /** Only lines after this time, ms since the epoch. */
  readonly since?: number;
}

/** What the leader's broker pushes to a worker on its `Listen` stream. */
export type LogSubscriptionMessage =
  | {
      readonly kind: 'subscribe';
      readonly id: string;
      readonly selector: LogSelector;
      readonly options: LogSubscriptionOptions;
    }
  /** The subscriber went away: stop reading and end the Publish call. */
  | { readonly kind: 'close'; readonly id: string };

export interface LogLineMessage {
  readonly taskId: TaskId;
  readonly stream: 'stdout' | 'stderr';
  readonly line: string;
  /** When the engine received the line, ms since the epoch. */
  readonly timestamp: number;
}

/**
 * One message of a worker's `Publish` call for one subscription: lines, then (unless following)
 * `done: true` once every matching container of the node was read; `error` if the node could not.
 */
export interface LogPublishMessage {
  readonly subscriptionId: string;
  readonly lines: readonly LogLineMessage[];
  readonly done?: boolean;
  readonly error?: string;
}

/**
 * Worker ↔ leader log streaming (swarmkit's LogBroker), on the inter-node listener (audience
 * `node`): a worker listens for the subscriptions of its own node and publishes their lines.
 */
export const LogsService = defineService('swarmctl.logs.Logs', {
  Listen: serverStream(emptyCodec, jsonCodec<LogSubscriptionMessage>()),
  Publish: clientStream(jsonCodec<LogPublishMessage>(), emptyCodec),
});
export type LogsServiceMethods = (typeof LogsService)['methods'];

/** `ServiceLogs` request: one of `service` (id, name or prefix) or `task` (id or prefix). */
export interface ServiceLogsRequest {
  readonly service?: string;
  readonly task?: string;
  readonly follow?: boolean;
  readonly tail?: number;
  readonly since?: number;
}

/** Where a line came from, resolved by the manager for docker's `<service>.<slot>.<task>@<node>`. */
export interface LogContext {
  readonly serviceId: ServiceId;
  readonly serviceName: string;
  readonly taskId: TaskId;
  /** The replica slot; 0 for global tasks (named after their node). */
  readonly slot: number;
  readonly nodeId: NodeId;
  readonly nodeName: string;
}

/** One line of a task's output, as the CLI gets it. */
export interface ServiceLogLine {
  readonly stream: 'stdout' | 'stderr';
  readonly line: string;
  /** When the engine received the line, ms since the epoch. */
  readonly timestamp: number;
}

/** Lines of one task for the CLI, or a node whose logs could not be read (down, disconnected, engine error). */
export type ServiceLogsMessage =
  | { readonly kind: 'lines'; readonly context: LogContext; readonly lines: readonly ServiceLogLine[] }
  | {
      readonly kind: 'node-error';
      readonly nodeId: NodeId;
      readonly nodeName: string;
      readonly error: string;
    };
