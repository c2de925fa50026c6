import { type Clock, errorMessage, type Logger, resolveMillis, SwarmError } from '../../common/index.js';
import type { CommandRunner } from './command-runner.js';
import type { EngineNetwork, NetworkEngine } from './docker-networks.js';
import { diffReturnRoutes, removeReturnRules, runNft, setForwardRule } from './kernel-ops.js';
import { deleteTableScript } from './nft-script.js';
import { isOurLink, type ReturnRoute } from './plan.js';

/**
 * How long a leave keeps trying to remove our Docker networks. Docker refuses to remove a network
 * while an endpoint is active, and a container that is exiting (a task stopped just before the
 * leave) keeps its endpoint until the engine has processed the exit: one attempt can meet that
 * window, and a second one straight after it too (a CI failure: a network and its bridge left).
 */
export const TEARDOWN_DEADLINE_MS = 20_000;
/** Pause between those attempts. */
export const TEARDOWN_RETRY_MS = 200;

/**
 * Bound of one Docker call made while tearing down. A hung engine (a call that never answers)
 * must not hang a leave or a stop for good: the call is given up, the step logs it, and the
 * teardown goes on (the next attempt or step may meet an engine that answers again).
 */
export const ENGINE_CALL_TIMEOUT_MS = 5_000;

/** `engineCallTimeoutMs` as given (undefined: the default), checked once where the options are read. */
export function resolveEngineCallTimeout(ms: number | undefined): number {
  return resolveMillis('engineCallTimeoutMs', ms, ENGINE_CALL_TIMEOUT_MS);
}

export interface TeardownDeps {
  readonly run: CommandRunner;
  readonly engine: NetworkEngine;
  readonly clock: Clock;
  readonly log: Logger;
  /** Per-call bound of the engine's calls (resolved by `resolveEngineCallTimeout`). */
  readonly engineCallTimeoutMs: number;
}

/**
 * The engine with every call bounded: one that has not answered after `ms` fails with
 * DEADLINE_EXCEEDED naming the call (details.call). The call itself is left to finish or not:
 * dockerode's network calls take no abort signal.
 */
export function boundedEngine(engine: NetworkEngine, ms: number, clock: Clock): NetworkEngine {
  const bound = <T>(call: string, p: Promise<T>): Promise<T> => {
    let cancel: () => void = () => {};
    const timeout = new Promise<never>((_, reject) => {
      cancel = clock.setTimer(ms, () =>
        reject(
          new SwarmError('DEADLINE_EXCEEDED', `docker engine call ${call} did not answer within ${ms} ms`, {
            retryable: true,
            details: { call, timeoutMs: ms },
          }),
        ),
      );
    });
    return Promise.race([p, timeout]).finally(cancel);
  };
  return {
    listOurs: () => bound('list networks', engine.listOurs()),
    create: (plan) => bound(`create network ${plan.dockerName}`, engine.create(plan)),
    remove: (name, options) => bound(`remove network ${name}`, engine.remove(name, options)),
  };
}

/** Names from `ip -o link show` lines: `7: swmv4096: <…>` (a vxlan on a bridge shows `name@dev`). */
export function parseLinkNames(out: string): string[] {
  const names: string[] = [];
  for (const line of out.split('\n')) {
    const m = /^\d+:\s+([^:@\s]+)/.exec(line);
    if (m?.[1]) names.push(m[1]);
  }
  return names;
}

/** Our links present now (`swmv*` VXLAN devices, `swmb*` bridges). */
export async function ourLinks(run: CommandRunner): Promise<string[]> {
  const r = await run(['ip', '-o', 'link', 'show']);
  return r.code === 0 ? parseLinkNames(r.stdout).filter(isOurLink) : [];
}

/**
 * Removes every Docker network of ours (found by label, not from memory: an apply cut short may
 * have created one it never recorded), retrying those Docker still refuses until `deadlineMs`.
 * Returns the names left.
 */
export async function removeAllNetworks(
  deps: TeardownDeps,
  deadlineMs = TEARDOWN_DEADLINE_MS,
): Promise<string[]> {
  const until = deps.clock.monotonic() + deadlineMs;
  for (;;) {
    const failed = new Map<string, string>();
    try {
      for (const n of await deps.engine.listOurs())
        await deps.engine.remove(n.name).catch((e: unknown) => failed.set(n.name, errorMessage(e)));
    } catch (e) {
      failed.set('(listing the networks)', errorMessage(e));
    }
    if (failed.size === 0) return [];
    if (deps.clock.monotonic() >= until) {
      for (const [name, error] of failed)
        deps.log.error('could not remove a Docker network of ours', { network: name, error });
      return [...failed.keys()];
    }
    await new Promise<void>((resolve) => deps.clock.setTimer(TEARDOWN_RETRY_MS, resolve));
  }
}

/**
 * Deletes our VXLAN devices, and our bridges that no Docker network of ours still owns (Docker
 * deletes a network's bridge with it; one left without its network is a remnant).
 */
export async function removeLinks(deps: TeardownDeps, keptBridges: readonly string[] = []): Promise<void> {
  const keep = new Set(keptBridges);
  for (const name of await ourLinks(deps.run)) {
    if (keep.has(name)) continue;
    const r = await deps.run(['ip', 'link', 'del', name]);
    if (r.code !== 0)
      deps.log.warn('could not delete a link of ours', { link: name, error: r.stderr.trim() });
  }
}

/** A crashed or killed predecessor may have left rules and devices: start from a known state. */
export async function removeStale(run: CommandRunner): Promise<void> {
  await runNft(run, deleteTableScript).catch(() => {});
  await setForwardRule(run, false);
  await removeReturnRules(run);
  const links = await run(['ip', '-o', 'link', 'show', 'type', 'vxlan']);
  for (const name of parseLinkNames(links.stdout))
    if (isOurLink(name)) await run(['ip', 'link', 'del', name]);
}

/**
 * Removes everything of ours, each step on its own (one failing leaves none of the others
 * undone), found by name and label rather than from memory. On leave (`all`): every Docker
 * network of ours, retried while Docker still refuses, then every link. On a plain stop a
 * restart adopts the running containers, which stay on their networks: only the networks no
 * container uses go (the next start recreates what it needs), and the links nothing owns.
 */
export async function teardownMesh(
  given: TeardownDeps,
  o: {
    readonly all: boolean;
    readonly returnRoutes: readonly ReturnRoute[];
    /** The VXLAN devices the last plan had; any other of ours is found by name. */
    readonly vxlans: readonly string[];
  },
): Promise<void> {
  const deps = { ...given, engine: boundedEngine(given.engine, given.engineCallTimeoutMs, given.clock) };
  const step = async (what: string, fn: () => Promise<unknown>): Promise<void> => {
    await fn().catch((e: unknown) =>
      deps.log.error('mesh teardown step failed', { step: what, error: errorMessage(e) }),
    );
  };
  await step('nft table', () => runNft(deps.run, deleteTableScript));
  await step('forward rule', () => setForwardRule(deps.run, false));
  await step('return routes', async () => {
    await diffReturnRoutes(deps.run, o.returnRoutes, []);
    await removeReturnRules(deps.run);
  });
  if (o.all) {
    await step('docker networks', () => removeAllNetworks(deps));
  } else {
    await step('docker networks', async () => {
      for (const n of await deps.engine.listOurs())
        await deps.engine.remove(n.name, { onlyIfUnused: true }).catch(() => {});
    });
  }
  for (const v of o.vxlans) await deps.run(['ip', 'link', 'del', v]);
  let kept: EngineNetwork[] = [];
  await step('links', async () => {
    kept = await deps.engine.listOurs();
    await removeLinks(
      deps,
      kept.flatMap((n) => (n.bridge ? [n.bridge] : [])),
    );
  });
  if (!o.all) return;
  const links = await ourLinks(deps.run);
  if (links.length > 0 || kept.length > 0)
    deps.log.error('mesh teardown left something of ours', {
      links: links.join(' '),
      networks: kept.map((n) => n.name).join(' '),
    });
}
