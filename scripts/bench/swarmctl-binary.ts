/**
 * The swarmctl executable a benchmark runs: `$SWARMCTL_DIST/swarmctl` or dist/swarmctl, built
 * with the normal `npm run build` when it is missing or older than a source file, so a user's
 * `npm run bench:…` measures the code in front of them.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../..');

function newestMtimeMs(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const e of readdirSync(path)) newest = Math.max(newest, newestMtimeMs(join(path, e)));
  return newest;
}

/** The binary's path, after building it if it is missing or stale. */
export function ensureSwarmctlBinary(log: (line: string) => void): string {
  const dist = process.env.SWARMCTL_DIST ? resolve(process.env.SWARMCTL_DIST) : join(ROOT, 'dist');
  const bin = join(dist, 'swarmctl');
  const inputs = ['src', 'package.json', 'scripts/build.mjs'].map((p) => join(ROOT, p));
  const sourceMtime = Math.max(...inputs.map(newestMtimeMs));
  if (existsSync(bin) && statSync(bin).mtimeMs >= sourceMtime) return bin;
  log(`${existsSync(bin) ? 'rebuilding stale' : 'building'} ${bin} (npm run build)`);
  const r = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) throw new Error(`npm run build failed (exit ${r.status ?? r.signal})`);
  return bin;
}
