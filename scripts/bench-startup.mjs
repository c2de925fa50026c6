// Start-up time of a CLI command of the single executable: median and p90 over many runs.
// Usage: npm run bench:startup [-- --runs N] (builds dist/swarmctl first if it is missing).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const exe = join(root, 'dist/swarmctl');
const runsArg = process.argv.indexOf('--runs');
const runs = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 40;
if (!existsSync(exe)) spawnSync(process.execPath, [join(root, 'scripts/build.mjs')], { stdio: 'inherit' });

function measure(argv) {
  const times = [];
  for (let i = 0; i < runs + 3; i++) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(exe, argv, { stdio: 'ignore' });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}`);
    if (i >= 3) times.push(ms); // the first runs warm the page cache
  }
  times.sort((a, b) => a - b);
  const q = (p) => times[Math.min(times.length - 1, Math.floor(p * times.length))];
  return { median: q(0.5), p90: q(0.9), min: times[0] };
}

const baseline = measure.call(null, ['--version']);
const results = [
  ['swarmctl version', measure(['version'])],
  ['swarmctl --help', measure(['--help'])],
  ['swarmctl --version', baseline],
];
// Node's own start-up on this machine, for scale.
const t = [];
for (let i = 0; i < runs; i++) {
  const t0 = process.hrtime.bigint();
  spawnSync(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  t.push(Number(process.hrtime.bigint() - t0) / 1e6);
}
t.sort((a, b) => a - b);
for (const [name, r] of results) {
  process.stdout.write(
    `${name.padEnd(20)} median ${r.median.toFixed(1)} ms  p90 ${r.p90.toFixed(1)} ms  min ${r.min.toFixed(1)} ms\n`,
  );
}
process.stdout.write(
  `${'node -e 0'.padEnd(20)} median ${t[Math.floor(t.length / 2)].toFixed(1)} ms (reference)\n`,
);
const worst = Math.max(...results.map(([, r]) => r.median));
process.stdout.write(`goal: median < 150 ms: ${worst < 150 ? 'met' : 'NOT met'} (${worst.toFixed(1)} ms)\n`);
process.exitCode = worst < 150 ? 0 : 1;
