// Bundles src/main.ts with esbuild and wraps it into dist/swarmctl, a Node single executable
// application (SEA) that runs with no node_modules beside it.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { codeOptions, renamedErrorClasses } from './bundle-options.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// SWARMCTL_DIST builds elsewhere, so that parallel work does not replace a binary a test is running.
const dist = process.env.SWARMCTL_DIST ? resolve(process.env.SWARMCTL_DIST) : join(root, 'dist');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

function gitCommit() {
  try {
    const sha = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], {
      cwd: root,
      encoding: 'utf8',
    }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], {
      cwd: root,
      encoding: 'utf8',
    });
    return dirty.trim() ? `${sha}-dirty` : sha;
  } catch {
    return 'unknown';
  }
}

mkdirSync(dist, { recursive: true });
const bundle = join(dist, 'swarmctl.cjs');
await build({
  ...codeOptions,
  entryPoints: [join(root, 'src/main.ts')],
  outfile: bundle,
  format: 'cjs',
  define: {
    __SWARMCTL_VERSION__: JSON.stringify(pkg.version),
    __SWARMCTL_COMMIT__: JSON.stringify(gitCommit()),
  },
});
const renamed = renamedErrorClasses(readFileSync(bundle, 'utf8'));
if (renamed.length > 0) throw new Error(`bundling renamed error classes: ${renamed.join(', ')}`);

const seaConfig = join(dist, 'sea-config.json');
const blob = join(dist, 'sea-prep.blob');
writeFileSync(
  seaConfig,
  JSON.stringify({ main: bundle, output: blob, disableExperimentalSEAWarning: true, useCodeCache: true }),
);
execFileSync(process.execPath, ['--experimental-sea-config', seaConfig], {
  stdio: ['ignore', 'ignore', 'inherit'],
});

const exe = join(dist, 'swarmctl');
rmSync(exe, { force: true });
copyFileSync(process.execPath, exe);
chmodSync(exe, 0o755);
// postject prints harmless ELF section warnings: show its output only when it fails.
const injected = spawnSync(
  process.execPath,
  [
    join(root, 'node_modules/postject/dist/cli.js'),
    exe,
    'NODE_SEA_BLOB',
    blob,
    '--sentinel-fuse',
    'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2',
  ],
  { encoding: 'utf8' },
);
if (injected.status !== 0) {
  process.stderr.write(injected.stdout + injected.stderr);
  throw new Error(`postject failed with status ${injected.status}`);
}
rmSync(blob);
rmSync(seaConfig);
process.stdout.write(`built ${exe} (${pkg.version}, ${gitCommit()})\n`);
