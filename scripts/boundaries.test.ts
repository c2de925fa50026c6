import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkBoundaries } from './boundaries.js';

const dirs: string[] = [];
function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'boundaries-'));
  dirs.push(root);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, 'src', path)), { recursive: true });
    writeFileSync(join(root, 'src', path), text);
  }
  return join(root, 'src');
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const base = {
  'common/index.ts': 'export const x = 1;\n',
  'common/clock.ts': 'export const c = 1;\n',
  'manager/index.ts': "import { x } from '../common/index.js';\nexport const m = x;\n",
  'worker/index.ts': 'export const w = 1;\n',
  'cli/index.ts': 'export const c = 1;\n',
  'main.ts': "import { m } from './manager/index.js';\nexport const r = m;\n",
};

describe('module boundary rule', () => {
  it('accepts imports through index.ts along allowed edges', () => {
    expect(checkBoundaries(tree(base))).toEqual([]);
  });

  it.each([
    [
      'worker imports manager',
      'worker/agent.ts',
      "import { m } from '../manager/index.js';\n",
      'worker must not import manager',
    ],
    [
      'cli imports manager',
      'cli/cmd.ts',
      "export { m } from '../manager/index.js';\n",
      'cli must not import manager',
    ],
    [
      'cli lazily imports worker',
      'cli/lazy.ts',
      "const w = await import('../worker/index.js');\n",
      'cli must not import worker',
    ],
    [
      'deep import into common',
      'manager/a.ts',
      "import type { c } from '../common/clock.js';\n",
      'deep import into common/',
    ],
    [
      'common imports a module',
      'common/bad.ts',
      "import '../manager/index.js';\n",
      'common must not import manager',
    ],
  ])('refuses %s', (_name, file, text, reason) => {
    const violations = checkBoundaries(tree({ ...base, [file]: text }));
    expect(violations.map((v) => v.reason).join('\n')).toContain(reason);
    expect(violations[0]?.file.endsWith(file)).toBe(true);
  });

  it('makes the check script exit non-zero on a forbidden import', () => {
    const src = tree({ ...base, 'worker/agent.ts': "import { m } from '../manager/index.js';\n" });
    const r = spawnSync(process.execPath, [join(__dirname, 'check-rules.mjs'), src], {
      encoding: 'utf8',
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('worker must not import manager');
    const ok = spawnSync(process.execPath, [join(__dirname, 'check-rules.mjs'), tree(base)], {
      encoding: 'utf8',
    });
    expect(ok.status).toBe(0);
  });
});

describe('test hygiene rule', () => {
  it('flags focused tests and fixed sleeps unless the line says why', () => {
    const src = tree({
      ...base,
      'common/a.test.ts': [
        "it.only('x', () => {});", // hygiene-ok: fixture text
        'await new Promise((r) => setTimeout(r, 100));', // hygiene-ok: fixture text
        'await new Promise((r) => setTimeout(r, 100)); // hygiene-ok: measures the timer itself',
      ].join('\n'),
    });
    const r = spawnSync(process.execPath, [join(__dirname, 'check-rules.mjs'), src], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('a.test.ts:1: focused or skipped test');
    expect(r.stderr).toContain('a.test.ts:2: fixed sleep');
    expect(r.stderr).not.toContain('a.test.ts:3');
  });
});
