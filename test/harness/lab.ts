import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { errorMessage, FailedPreconditionError, SwarmError } from '../../src/common/index.js';
import { cleanupLab, findLeftovers, type LabLeftovers } from './lab-cleanup.js';
import { type EngineOptions, enginePid, pingEngine, startEngine, stopEngine } from './lab-engine.js';
import { loadImageTarball, prepareTestImages, saveImages } from './lab-images.js';
import {
  checkHostCount,
  hostLayout,
  type LabHost,
  type LabLayout,
  type LabLayoutOptions,
  resolveLabLayout,
} from './lab-layout.js';
import { createBridge, createHostNetwork, isLinkUp, setLink } from './lab-net.js';
import {
  isRunning,
  killProcess,
  type LabProcess,
  listProcesses,
  restartProcess,
  type StartProcessOptions,
  startProcess,
  stopAllProcesses,
} from './lab-process.js';
import { type CommandResult, type RunCommandOptions, runCommand } from './run-command.js';

export type { LabHost, LabLayoutOptions } from './lab-layout.js';
export type { LabProcess } from './lab-process.js';

export interface LabOptions extends LabLayoutOptions, EngineOptions {
  hosts: number;
  /** Test images to load into every engine; [] for none. @default every image of scripts/build-images.sh */
  images?: readonly string[];
  /**
   * Reverse-path filtering of every host (`all` and `default`, so also the interfaces engines
   * make): 1 is strict, as some distributions ship. @default 0, a new namespace's mode
   */
  rpFilter?: 0 | 1 | 2;
}

/** What `lab.json` records, so the CLI and later processes can attach to a running lab. */
interface LabState {
  prefix: string;
  subnet: string;
  runRoot: string | undefined;
  dataRoot: string | undefined;
  hosts: number;
  createdAt: string;
}

export type HttpGetResult =
  | { ok: true; body: string; elapsedMs: number }
  | { ok: false; exitCode: number; error: string; elapsedMs: number };

export interface HostStatus {
  host: LabHost;
  engineUp: boolean;
  linkUp: boolean;
  processes: { name: string; pid: number; running: boolean }[];
}

/**
 * N hosts on one machine, each a network namespace on a private bridge with its own address
 * and its own Docker engine. Hosts are numbered from 1. See docs/lab.md.
 */
export class Lab {
  private constructor(
    readonly layout: LabLayout,
    readonly hosts: readonly LabHost[],
  ) {}

  /** Removes any earlier lab with the same prefix, then builds a new one and waits until it is ready. */
  static async up(options: LabOptions): Promise<Lab> {
    checkHostCount(options.hosts);
    const layout = resolveLabLayout(options);
    const hosts = Array.from({ length: options.hosts }, (_, i) => hostLayout(layout, i + 1));
    await cleanupLab(layout);
    const lab = new Lab(layout, hosts);
    let images: Promise<string[]> = Promise.resolve([]);
    try {
      mkdirSync(layout.runDir, { recursive: true });
      mkdirSync(layout.dataDir, { recursive: true });
      const state: LabState = {
        prefix: layout.prefix,
        subnet: layout.subnet,
        runRoot: options.runRoot,
        dataRoot: options.dataRoot,
        hosts: options.hosts,
        createdAt: new Date().toISOString(),
      };
      writeFileSync(layout.stateFile, `${JSON.stringify(state, null, 2)}\n`);
      // The root engine and its images get ready while the hosts are built.
      const wanted = options.images;
      if (wanted === undefined || wanted.length > 0) {
        images = prepareTestImages().then((all) => (wanted === undefined ? all : [...wanted]));
        images.catch(() => {}); // awaited below (or in the catch); only silence it until then
      }
      await createBridge(layout);
      for (const host of hosts) {
        await createHostNetwork(layout, host, options.rpFilter ?? 0);
        mkdirSync(host.swarmctlStateDir, { recursive: true });
      }
      await settleAll(hosts.map((h) => startEngine(layout, h, options)));
      const names = await images;
      if (names.length > 0) await lab.loadImages('all', names);
      return lab;
    } catch (e) {
      await images.catch(() => {}); // nothing of this call is left running
      await cleanupLab(layout).catch(() => {});
      throw e;
    }
  }

  /** The lab that `up` (in this or another process) left running under this prefix. */
  static attach(options: LabLayoutOptions = {}): Lab {
    const layout = resolveLabLayout(options);
    if (!existsSync(layout.stateFile)) {
      throw new FailedPreconditionError(`no lab ${layout.prefix} is up (no ${layout.stateFile})`);
    }
    const state = JSON.parse(readFileSync(layout.stateFile, 'utf8')) as LabState;
    const full = resolveLabLayout({
      prefix: state.prefix,
      subnet: state.subnet,
      runRoot: state.runRoot,
      dataRoot: state.dataRoot,
    });
    return new Lab(
      full,
      Array.from({ length: state.hosts }, (_, i) => hostLayout(full, i + 1)),
    );
  }

  /** Removes what carries the prefix, whether a live lab or the remains of a crashed run. */
  static async cleanupStale(options: LabLayoutOptions = {}): Promise<void> {
    await cleanupLab(resolveLabLayout(options));
  }

  static async leftovers(options: LabLayoutOptions = {}): Promise<LabLeftovers> {
    return findLeftovers(resolveLabLayout(options));
  }

  host(n: number): LabHost {
    const host = this.hosts[n - 1];
    if (host === undefined) {
      throw new SwarmError(
        'INVALID_ARGUMENT',
        `host ${n} is not in this lab (hosts 1-${this.hosts.length})`,
        {
          details: { field: 'host' },
        },
      );
    }
    return host;
  }

  /** Runs argv in the host's network namespace (the root's filesystem and binaries). */
  exec(n: number, argv: readonly string[], options: RunCommandOptions = {}): Promise<CommandResult> {
    return runCommand(['nsenter', `--net=${this.host(n).netnsPath}`, '--', ...argv], options);
  }

  /** The host's engine: `socketPath` for dockerode, `host` for DOCKER_HOST or `docker -H`. */
  docker(n: number): { socketPath: string; host: string } {
    const h = this.host(n);
    return { socketPath: h.dockerSocket, host: h.dockerHost };
  }

  /** Runs the docker CLI against the host's engine. */
  dockerCli(n: number, args: readonly string[], options: RunCommandOptions = {}): Promise<CommandResult> {
    return runCommand(['docker', '-H', this.host(n).dockerHost, ...args], options);
  }

  /**
   * GET `url` with curl from inside host n, bounded by `timeoutMs`: the body, or why it failed
   * (curl's exit code: 7 refused/unreachable, 28 timed out).
   */
  async httpGet(n: number, url: string, timeoutMs = 2_000): Promise<HttpGetResult> {
    const started = performance.now();
    const r = await this.exec(n, ['curl', '-sS', '--fail', '--max-time', String(timeoutMs / 1000), url], {
      allowFailure: true,
      timeoutMs: timeoutMs + 5_000,
    });
    const elapsedMs = Math.round(performance.now() - started);
    return r.code === 0
      ? { ok: true, body: r.stdout, elapsedMs }
      : { ok: false, exitCode: r.code, error: r.stderr.trim(), elapsedMs };
  }

  /** Partitions the host from every other host and from the root namespace, both ways. */
  async cutLink(n: number): Promise<void> {
    await setLink(this.host(n), false);
  }

  async healLink(n: number): Promise<void> {
    await setLink(this.host(n), true);
  }

  /** Kills the host's dockerd (SIGKILL: a crash; its containers live on) and waits until it is gone. */
  async killEngine(n: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    await stopEngine(this.host(n), signal);
  }

  /** Stops the host's dockerd if it runs (SIGTERM), starts it again and waits until it answers. */
  async restartEngine(n: number, options: EngineOptions = {}): Promise<void> {
    const host = this.host(n);
    await stopEngine(host, 'SIGTERM');
    await startEngine(this.layout, host, options);
  }

  /** Loads test images into one host's engine or all: saved once, loaded in parallel. */
  async loadImages(n: number | 'all', images: readonly string[]): Promise<void> {
    const tarball = await saveImages(images);
    const targets = n === 'all' ? this.hosts : [this.host(n)];
    await settleAll(targets.map((h) => loadImageTarball(h.dockerHost, tarball)));
  }

  startProcess(n: number, argv: readonly string[], options: StartProcessOptions = {}): LabProcess {
    return startProcess(this.layout, this.host(n), argv, options);
  }

  killProcess(
    n: number,
    signal: NodeJS.Signals = 'SIGTERM',
    options: { name?: string; timeoutMs?: number } = {},
  ): Promise<boolean> {
    return killProcess(this.host(n), signal, options);
  }

  restartProcess(n: number, options: { name?: string; graceMs?: number } = {}): Promise<LabProcess> {
    return restartProcess(this.layout, this.host(n), options);
  }

  async status(): Promise<HostStatus[]> {
    return Promise.all(
      this.hosts.map(async (host) => ({
        host,
        engineUp: enginePid(host) !== undefined && (await pingEngine(host.dockerSocket)),
        linkUp: await isLinkUp(host).catch(() => false),
        processes: listProcesses(host).map((p) => ({ name: p.name, pid: p.pid, running: isRunning(p) })),
      })),
    );
  }

  /** Stops started processes gently, then removes everything the lab made. Idempotent. */
  async teardown(): Promise<void> {
    await Promise.allSettled(this.hosts.map((h) => stopAllProcesses(h)));
    await cleanupLab(this.layout);
  }
}

/** Awaits every promise (none is left running unobserved), then throws all failures at once. */
async function settleAll(promises: readonly Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(promises);
  const failures = results
    .filter((r): r is PromiseRejectedResult => r.status === 'rejected')
    .map((r) => r.reason);
  if (failures.length === 1) throw failures[0];
  if (failures.length > 1) {
    throw new SwarmError('UNAVAILABLE', failures.map((f) => errorMessage(f)).join('\n---\n'), {
      cause: failures[0],
    });
  }
}
