import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { waitFor } from '../../src/common/index.js';
import type { Lab } from '../../test/harness/lab.js';

/**
 * What a replicated service's containers did during an update, from the engines' own event streams
 * (start/die with nanosecond times) on lab hosts: slots without a running container are measured
 * on every container change, not sampled. Works the same for swarmctl and for Docker Swarm mode,
 * whose containers carry the same labels. Used by test/lab/updates-lab.test.ts and bench:update.
 */

/** A running container of a service as one engine sees it. */
export interface Box {
  host: number;
  slot: number;
  image: string;
}

const slotOf = (taskName: string): number => Number(taskName.split('.')[1]);

/**
 * Every container start and death of one service on every host, replayed over the containers that
 * ran when it began. `docker events --since` replays what happened between the listing and the
 * stream's start; applying a start or death twice changes nothing, so the two cannot disagree.
 */
export class SlotWatch {
  private readonly procs: ChildProcess[] = [];
  private readonly events: { at: number; action: string; id: string; box: Box }[] = [];
  private readonly initial = new Map<string, Box>();

  private constructor(
    readonly service: string,
    private readonly replicas: number,
  ) {}

  /** Watches `service` (`replicas` slots) on the given lab hosts' engines. */
  static async start(
    lab: Lab,
    hosts: readonly number[],
    service: string,
    replicas: number,
  ): Promise<SlotWatch> {
    const w = new SlotWatch(service, replicas);
    const since = (Date.now() / 1000 - 1).toFixed(3);
    for (const host of hosts) {
      const r = await lab.dockerCli(host, [
        'ps',
        '--no-trunc',
        '--filter',
        `label=com.docker.swarm.service.name=${service}`,
        '--format',
        '{{.ID}} {{.Label "com.docker.swarm.task.name"}} {{.Image}}',
      ]);
      for (const line of r.stdout.split('\n').filter(Boolean)) {
        const [id, task, image] = line.split(' ');
        w.initial.set(id!, { host, slot: slotOf(task!), image: image! });
      }
      const args = ['-H', lab.docker(host).host, 'events', '--since', since, '--format', '{{json .}}'];
      for (const f of ['type=container', 'event=start', 'event=die']) args.push('--filter', f);
      args.push('--filter', `label=com.docker.swarm.service.name=${service}`);
      const p = spawn('docker', args, { stdio: ['ignore', 'pipe', 'ignore'] });
      w.procs.push(p);
      createInterface({ input: p.stdout! }).on('line', (line) => {
        const e = JSON.parse(line) as {
          Action: string;
          timeNano: number;
          Actor: { ID: string; Attributes: Record<string, string> };
        };
        const a = e.Actor.Attributes;
        w.events.push({
          at: e.timeNano / 1e6,
          action: e.Action,
          id: e.Actor.ID,
          box: { host, slot: slotOf(a['com.docker.swarm.task.name'] ?? ''), image: a.image ?? '' },
        });
      });
    }
    return w;
  }

  stop(): void {
    for (const p of this.procs) if (p.exitCode === null) p.kill('SIGTERM');
  }

  /** Replays the events in time order; `at` lists the running containers after each change. */
  timeline(): { at: number; running: Map<string, Box> }[] {
    const running = new Map(this.initial);
    const out = [{ at: 0, running: new Map(running) }];
    for (const e of [...this.events].sort((a, b) => a.at - b.at)) {
      if (e.action === 'start') running.set(e.id, e.box);
      else running.delete(e.id);
      out.push({ at: e.at, running: new Map(running) });
    }
    return out;
  }

  /**
   * The worst moments from `sinceMs` (ms since the epoch) on: most slots with no running container,
   * fewest running containers. The state in force at `sinceMs` counts too.
   */
  worst(sinceMs = 0): { maxSlotsDown: number; minRunning: number } {
    let maxSlotsDown = 0;
    let minRunning = Number.POSITIVE_INFINITY;
    const all = this.timeline();
    const first = Math.max(
      0,
      all.findLastIndex((p) => p.at <= sinceMs),
    );
    for (const { running } of all.slice(first)) {
      const up = new Set([...running.values()].map((b) => b.slot));
      let down = 0;
      for (let s = 1; s <= this.replicas; s++) if (!up.has(s)) down++;
      maxSlotsDown = Math.max(maxSlotsDown, down);
      minRunning = Math.min(minRunning, running.size);
    }
    return { maxSlotsDown, minRunning };
  }

  /** Start times (ms since the epoch) of containers of `image` from `sinceMs` on, in order. */
  starts(image: string, sinceMs = 0): number[] {
    return this.events
      .filter((e) => e.action === 'start' && e.box.image === image && e.at >= sinceMs)
      .map((e) => e.at)
      .sort((a, b) => a - b);
  }

  /**
   * Per slot that changed to `image` from `sinceMs` on: when its last other container died and when
   * the `image` container started, in the order the slots were taken down.
   */
  handovers(image: string, sinceMs = 0): { slot: number; diedAt: number; startedAt: number }[] {
    const out: { slot: number; diedAt: number; startedAt: number }[] = [];
    const sorted = [...this.events].filter((e) => e.at >= sinceMs).sort((a, b) => a.at - b.at);
    for (const e of sorted) {
      if (e.action !== 'start' || e.box.image !== image) continue;
      const died = sorted.filter(
        (d) => d.action === 'die' && d.box.slot === e.box.slot && d.box.image !== image && d.at <= e.at,
      );
      const diedAt = died.at(-1)?.at ?? e.at;
      out.push({ slot: e.box.slot, diedAt, startedAt: e.at });
    }
    return out.sort((a, b) => a.diedAt - b.diedAt);
  }

  /** IDs of the containers running now (of `image` when given). */
  runningIds(image?: string): string[] {
    const last = this.timeline().at(-1)!.running;
    return [...last].filter(([, b]) => image === undefined || b.image === image).map(([id]) => id);
  }

  /** Running containers now, per slot. */
  now(): Map<number, Box[]> {
    const last = this.timeline().at(-1)!.running;
    const out = new Map<number, Box[]>();
    for (const b of last.values()) out.set(b.slot, [...(out.get(b.slot) ?? []), b]);
    return out;
  }

  /** Waits until every slot runs exactly one container, of `image`, and no other container runs. */
  async settled(image: string, timeoutMs = 60_000): Promise<void> {
    await waitFor(
      () => {
        const now = this.now();
        const ok =
          now.size === this.replicas &&
          [...now.values()].every((boxes) => boxes.length === 1 && boxes[0]!.image === image);
        const state = [...now]
          .map(([s, b]) => `${s}:${b.map((x) => `${x.image}@h${x.host}`).join('+')}`)
          .join(' ');
        return ok ? { done: true, value: 0 } : { done: false, state };
      },
      { timeoutMs, intervalMs: 100, what: `one running ${image} container per slot` },
    );
  }
}
