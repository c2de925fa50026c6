import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FailedPreconditionError } from '../../src/common/index.js';
import { runCommand } from './run-command.js';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SCRIPTS = join(REPO_ROOT, 'scripts');
export const IMAGE_CACHE_DIR = '/var/cache/swarmctl-lab/images';

/**
 * Makes sure the root engine runs and holds the test images (both scripts are idempotent and
 * quick when there is nothing to do), and returns the images' names.
 */
export async function prepareTestImages(): Promise<string[]> {
  await runCommand(['bash', join(SCRIPTS, 'ensure-docker.sh')], { timeoutMs: 120_000 });
  await runCommand(['bash', join(SCRIPTS, 'build-images.sh')], { timeoutMs: 300_000 });
  return listTestImages();
}

export async function listTestImages(): Promise<string[]> {
  const r = await runCommand(['bash', join(SCRIPTS, 'build-images.sh'), '--list']);
  return r.stdout.split('\n').filter((l) => l !== '');
}

/**
 * `docker save` of the images from the root engine, once per set of image contents: the
 * tarball is cached under a name derived from the image ids.
 */
export async function saveImages(images: readonly string[]): Promise<string> {
  const sorted = [...images].sort();
  const inspect = await runCommand(['docker', 'image', 'inspect', '--format', '{{.Id}}', ...sorted], {
    allowFailure: true,
  });
  if (inspect.code !== 0) {
    throw new FailedPreconditionError(
      `test images missing from the root engine (run scripts/build-images.sh): ${inspect.stderr.trim()}`,
    );
  }
  const key = createHash('sha256')
    .update(sorted.join('\n'))
    .update(inspect.stdout)
    .digest('hex')
    .slice(0, 16);
  const path = join(IMAGE_CACHE_DIR, `${key}.tar`);
  if (existsSync(path)) return path;
  mkdirSync(IMAGE_CACHE_DIR, { recursive: true });
  const partial = `${path}.${process.pid}.partial`;
  await runCommand(['docker', 'save', '-o', partial, ...sorted], { timeoutMs: 120_000 });
  renameSync(partial, path); // atomic: a concurrent reader sees all of it or nothing
  return path;
}

/** Loads a saved tarball into the engine at `dockerHost` (`unix://…`). */
export async function loadImageTarball(dockerHost: string, tarball: string): Promise<void> {
  await runCommand(['docker', '-H', dockerHost, 'load', '-q', '-i', tarball], { timeoutMs: 120_000 });
}
