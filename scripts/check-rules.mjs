// Entry for `npm run rules`: module boundaries (scripts/boundaries.ts) and test hygiene
// (scripts/test-hygiene.ts). Fails on any finding. Optional argument: a src/ dir to check.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = process.argv[2] ?? join(root, 'src');
const code = `
import { checkBoundaries } from ${JSON.stringify(join(root, 'scripts/boundaries.ts'))};
import { checkTestHygiene } from ${JSON.stringify(join(root, 'scripts/test-hygiene.ts'))};
const [src, ...testRoots] = process.argv.slice(1);
const v = checkBoundaries(src);
for (const x of v) process.stderr.write(x.file + ':' + x.line + ': ' + JSON.stringify(x.specifier) + ': ' + x.reason + '\\n');
const h = checkTestHygiene(testRoots);
for (const x of h) process.stderr.write(x.file + ':' + x.line + ': ' + x.rule + '\\n');
if (v.length + h.length) { process.stderr.write((v.length + h.length) + ' rule violation(s)\\n'); process.exitCode = 1; }
else process.stdout.write('module boundaries and test hygiene: ok\\n');
`;
const testRoots = process.argv[2] ? [src] : [join(root, 'src'), join(root, 'test'), join(root, 'scripts')];
const r = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--input-type=module', '-e', code, src, ...testRoots],
  {
    stdio: 'inherit',
    cwd: root,
  },
);
process.exitCode = r.status ?? 1;
