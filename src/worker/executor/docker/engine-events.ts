import type Docker from 'dockerode';
import type { NodeId, TaskId } from '../../../api/index.js';
import {
  type Clock,
  type Component,
  DisposableStore,
  Emitter,
  type Event,
  errorMessage,
  type Logger,
  type Random,
} from '../../../common/index.js';
import type { ContainerEvent } from '../executor.js';
import { LABEL_TASK_ID, managedLabelFilter } from './labels.js';

const INITIAL_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 5_000;
const WATCHED_ACTIONS = ['start', 'die', 'stop', 'health_status', 'oom', 'destroy'];

export interface EngineEventsDeps {
  readonly docker: Docker;
  readonly nodeId: NodeId;
  readonly clock: Clock;
  readonly random: Random;
  readonly logger: Logger;
}

/**
 * One `docker events` stream per engine, filtered to this node's task containers, turned into
 * typed ContainerEvents. The stream is lossy across reconnects, so every (re)connection fires
 * `resync`, and listeners re-inspect what they watch.
 */
export class EngineEvents implements Component {
  readonly name = 'docker-events';
  private readonly events = new Emitter<ContainerEvent>();
  private readonly connection = new Emitter<boolean>();
  readonly onDidEvent: Event<ContainerEvent> = this.events.event;
  readonly onDidChangeConnection: Event<boolean> = this.connection.event;
  private isConnected = false;

  constructor(private readonly deps: EngineEventsDeps) {}

  get connected(): boolean {
    return this.isConnected;
  }

  async run(signal: AbortSignal): Promise<void> {
    const { docker, nodeId, logger } = this.deps;
    let backoff = INITIAL_BACKOFF_MS;
    try {
      while (!signal.aborted) {
        try {
          const stream = await docker.getEvents({
            filters: { type: ['container'], label: managedLabelFilter(nodeId), event: WATCHED_ACTIONS },
            abortSignal: signal,
          });
          this.setConnected(true);
          backoff = INITIAL_BACKOFF_MS;
          this.events.fire({ kind: 'resync' });
          await this.consume(stream, signal);
          if (!signal.aborted) logger.warn('docker event stream ended; reconnecting');
        } catch (e) {
          if (signal.aborted) break;
          logger.warn('docker event stream failed; reconnecting', {
            error: errorMessage(e),
            backoffMs: backoff,
          });
        }
        this.setConnected(false);
        if (signal.aborted) break;
        await this.delay(backoff + this.deps.random.int(0, backoff / 2 + 1), signal);
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      }
    } finally {
      this.setConnected(false);
    }
  }

  /** Drops every listener; `run` may be called again (a supervisor restart) before this. */
  dispose(): void {
    this.events.dispose();
    this.connection.dispose();
  }

  private setConnected(value: boolean): void {
    if (this.isConnected === value) return;
    this.isConnected = value;
    this.connection.fire(value);
  }

  /** Resolves when the stream ends (engine restart, connection drop) or `signal` aborts. */
  private consume(stream: NodeJS.ReadableStream, signal: AbortSignal): Promise<void> {
    const disposables = new DisposableStore();
    return new Promise<void>((resolve, reject) => {
      let pending = '';
      const onData = (chunk: Buffer | string): void => {
        pending += chunk.toString();
        let nl = pending.indexOf('\n');
        while (nl >= 0) {
          const line = pending.slice(0, nl).trim();
          pending = pending.slice(nl + 1);
          if (line) this.dispatch(line);
          nl = pending.indexOf('\n');
        }
      };
      const onAbort = (): void => {
        destroy(stream);
        resolve();
      };
      stream.on('data', onData);
      stream.once('end', () => resolve());
      stream.once('close', () => resolve());
      stream.once('error', (e: unknown) => reject(e));
      signal.addEventListener('abort', onAbort, { once: true });
      disposables.defer(() => signal.removeEventListener('abort', onAbort));
      disposables.defer(() => stream.removeListener('data', onData));
    }).finally(() => {
      disposables.dispose();
      destroy(stream);
    });
  }

  private dispatch(line: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      this.deps.logger.warn('unparsable docker event', { line: line.slice(0, 200) });
      return;
    }
    const event = parseEngineEvent(parsed);
    if (event) this.events.fire(event);
  }

  private delay(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        cancel();
        signal.removeEventListener('abort', done);
        resolve();
      };
      const cancel = this.deps.clock.setTimer(ms, done);
      signal.addEventListener('abort', done, { once: true });
    });
  }
}

function destroy(stream: NodeJS.ReadableStream): void {
  const d = (stream as { destroy?: () => void }).destroy;
  if (typeof d === 'function') d.call(stream);
}

/** Docker's event JSON → our typed event; undefined for actions we do not track. */
export function parseEngineEvent(raw: unknown): ContainerEvent | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const r = raw as {
    Action?: unknown;
    Actor?: { ID?: unknown; Attributes?: Record<string, unknown> };
    timeNano?: unknown;
    time?: unknown;
  };
  const action = typeof r.Action === 'string' ? r.Action : '';
  const containerId = r.Actor?.ID;
  const taskId = r.Actor?.Attributes?.[LABEL_TASK_ID];
  if (typeof containerId !== 'string' || typeof taskId !== 'string' || taskId === '') return undefined;
  const time =
    typeof r.timeNano === 'number'
      ? Math.floor(r.timeNano / 1e6)
      : typeof r.time === 'number'
        ? r.time * 1000
        : 0;
  const base = { containerId, taskId: taskId as TaskId, time };
  switch (action) {
    case 'start':
    case 'oom':
    case 'destroy':
    case 'stop':
      return { ...base, kind: action };
    case 'die':
      return { ...base, kind: 'die', exitCode: Number(r.Actor?.Attributes?.exitCode ?? -1) };
    case 'health_status: healthy':
      return { ...base, kind: 'health', health: 'healthy' };
    case 'health_status: unhealthy':
      return { ...base, kind: 'health', health: 'unhealthy' };
    default:
      return undefined;
  }
}
