// Entry for `npm run boundaries`: fails when a module crosses a boundary (see scripts/boundaries.ts).
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const code = `
import { checkBoundaries } from ${JSON.stringify(join(root, 'scripts/boundaries.ts'))};
const v = checkBoundaries(process.argv[1] ?? 'src');
for (const x of v) process.stderr.write(x.file + ':' + x.line + ': ' + JSON.stringify(x.specifier) + ': ' + x.reason + '\\n');
if (v.length) { process.stderr.write(v.length + ' boundary violation(s)\\n'); process.exitCode = 1; }
else process.stdout.write('module boundaries: ok\\n');
`;
const r = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--input-type=module', '-e', code, process.argv[2] ?? join(root, 'src')],
  {
    stdio: 'inherit',
    cwd: root,
  },
);
process.exitCode = r.status ?? 1;
