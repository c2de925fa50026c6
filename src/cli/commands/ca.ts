import type { Command } from 'commander';
import type { ClusterInfo } from '../../api/index.js';
import { type Clock, formatDuration, parseDuration, systemClock } from '../../common/index.js';
import type { Connection } from '../control-client.js';
import { type HostOptions, loadControlClient, resolveHost } from '../host.js';
import type { CliOutput } from '../output/streams.js';

interface CaFlags {
  rotate: boolean;
  certExpiry?: string;
  quiet: boolean;
  detach: boolean;
}

/** How often `ca --rotate` checks the rotation's progress while it waits. */
const PROGRESS_INTERVAL_MS = 500;

/** `rotation: n/m nodes` while it runs, or the final line. */
export function rotationProgressLine(info: ClusterInfo): string {
  if (!info.rootRotation) return `root CA rotation complete: ${info.rootCaDigest}`;
  const { nodesOnNewRoot, nodes } = info.rootRotation;
  return `rotating root CA: ${nodesOnNewRoot}/${nodes} nodes renewed under the new root`;
}

/**
 * `swarmctl ca`: docker's `docker swarm ca`. Without flags prints the current root certificate;
 * `--rotate` starts a root rotation and, unless `--detach`, waits until every node holds a
 * certificate under the new root, printing progress; `--cert-expiry` changes node certificate life.
 */
export function registerCa(program: Command, output: CliOutput, clock: Clock = systemClock): void {
  const hostOpts = (): HostOptions => program.opts<HostOptions>();
  const withControl = async <T>(fn: (c: Connection['control']) => Promise<T>): Promise<T> => {
    const opts = hostOpts();
    const c = (await loadControlClient()).connect(resolveHost(opts, process.env), opts);
    try {
      return await fn(c.control);
    } finally {
      c.close();
    }
  };
  const register = (parent: Command): void => {
    parent
      .command('ca')
      .description('Display and rotate the root CA')
      .option('--rotate', 'Rotate the swarm CA: a new root, cross-signed, every node reissued', false)
      .option('--cert-expiry <duration>', 'Validity period for node certificates (ns|us|ms|s|m|h)')
      .option('-q, --quiet', 'Suppress progress output', false)
      .option('-d, --detach', 'Exit immediately instead of waiting for the root rotation to converge', false)
      .action(async (opts: CaFlags) => {
        const certExpiryMs =
          opts.certExpiry === undefined ? undefined : parseDuration(opts.certExpiry, '--cert-expiry');
        await withControl(async (c) => {
          if (certExpiryMs !== undefined) await c.UpdateCluster({ certExpiryMs });
          if (!opts.rotate) {
            if (certExpiryMs !== undefined && !opts.quiet)
              output.out(`Node certificates now expire after ${formatDuration(certExpiryMs)}.\n`);
            if (certExpiryMs === undefined) output.out(await currentRootPem(c));
            return;
          }
          const { rootCaDigest } = await c.RotateRootCA({});
          if (opts.detach) {
            if (!opts.quiet) output.out(`root CA rotation started: ${rootCaDigest}\n`);
            return;
          }
          await waitForRotation(c, rootCaDigest, clock, (line) => {
            if (!opts.quiet) output.out(`${line}\n`);
          });
          output.out(await currentRootPem(c));
        });
      });
  };
  register(program);
  // `swarmctl swarm ca …` as `docker swarm ca …`.
  const swarm = program.commands.find((c) => c.name() === 'swarm');
  if (swarm) register(swarm);
}

async function currentRootPem(c: Connection['control']): Promise<string> {
  return (await c.GetRootCACertificate({})).rootCaPem;
}

/** Polls Info until the root with `digest` is the only root; prints each change of progress. */
async function waitForRotation(
  c: Connection['control'],
  digest: string,
  clock: Clock,
  progress: (line: string) => void,
): Promise<void> {
  let last = '';
  for (;;) {
    const info = await c.Info({});
    const done = !info.rootRotation && info.rootCaDigest === digest;
    // A follower may not have applied the rotation yet: show it as not started rather than done.
    const pending = info.rootRotation ?? { nodesOnNewRoot: 0, nodes: info.nodes };
    const line = rotationProgressLine(done ? info : { ...info, rootRotation: pending });
    if (line !== last) progress(line);
    last = line;
    if (done) return;
    await new Promise<void>((resolve) => clock.setTimer(PROGRESS_INTERVAL_MS, resolve));
  }
}
