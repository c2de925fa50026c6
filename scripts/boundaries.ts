/**
 * Module boundary rules (style-models §8.2), checked over src/. A module is a top-level folder of
 * src/; other modules are reached only through their index.ts.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

export const MODULES = [
  'api',
  'common',
  'rpc',
  'raft',
  'ca',
  'manager',
  'worker',
  'routing-mesh',
  'cli',
  'daemon',
] as const;
type Module = (typeof MODULES)[number];

/** Which modules each module may import (besides itself). main.ts, the composition root, may import any index. */
export const ALLOWED: Readonly<Record<Module, readonly Module[]>> = {
  common: [],
  // The shared vocabulary, including the gRPC service definitions both sides of a call use.
  api: ['common', 'rpc'],
  // Typed gRPC plumbing (service definitions, mTLS credentials, error mapping).
  rpc: ['common'],
  raft: ['api', 'common', 'rpc'],
  ca: ['api', 'common', 'rpc'],
  'routing-mesh': ['api', 'common'],
  manager: ['api', 'common', 'rpc', 'raft', 'ca', 'routing-mesh'],
  // worker never imports manager: they share only api.
  worker: ['api', 'common', 'rpc', 'ca', 'routing-mesh'],
  // cli reaches the daemon only through its API client (in cli/), never its internals.
  cli: ['api', 'common', 'rpc', 'ca'],
  // The node process: composes a manager and/or a worker from a state directory.
  daemon: ['api', 'common', 'rpc', 'ca', 'manager', 'worker', 'routing-mesh'],
};

export interface Violation {
  file: string;
  line: number;
  specifier: string;
  reason: string;
}

const IMPORT_RE =
  /(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|(?:^|[^\w.])import\s*\(\s*['"]([^'"]+)['"]\s*\)|^\s*import\s*['"]([^'"]+)['"]/gm;

function listTs(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...listTs(p));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

function moduleOf(srcDir: string, file: string): Module | 'root' | undefined {
  const rel = relative(srcDir, file);
  if (rel.startsWith('..')) return undefined;
  const first = rel.split(sep)[0]!;
  if (!rel.includes(sep)) return 'root';
  return (MODULES as readonly string[]).includes(first) ? (first as Module) : undefined;
}

export function checkBoundaries(srcDir: string): Violation[] {
  const src = resolve(srcDir);
  const violations: Violation[] = [];
  for (const file of listTs(src)) {
    const from = moduleOf(src, file);
    const text = readFileSync(file, 'utf8');
    const isTest = file.endsWith('.test.ts');
    for (const m of text.matchAll(IMPORT_RE)) {
      const specifier = m[1] ?? m[2] ?? m[3];
      if (!specifier?.startsWith('.')) continue;
      const line = text.slice(0, m.index).split('\n').length + (m[0].startsWith('\n') ? 1 : 0);
      const target = resolve(dirname(file), specifier);
      const to = moduleOf(src, target);
      const report = (reason: string): void => {
        violations.push({ file: relative(process.cwd(), file), line, specifier, reason });
      };
      if (to === undefined) {
        // Co-located tests may use the shared test harness; production code never leaves src/.
        const intoHarness = relative(join(src, '..', 'test', 'harness'), target);
        if (!(isTest && !intoHarness.startsWith('..'))) report('imports from outside src/');
        continue;
      }
      if (to === 'root') {
        report('imports the composition root');
        continue;
      }
      if (from === to) continue;
      const relInTarget = relative(join(src, to), target);
      if (relInTarget !== 'index.js' && relInTarget !== 'index.ts' && relInTarget !== 'index') {
        report(`deep import into ${to}/: enter a module through its index.ts`);
      }
      if (from === 'root' || from === undefined) continue;
      // Tests may use another module's public API to build fixtures, but never a forbidden edge.
      if (!ALLOWED[from].includes(to) && !(isTest && to === 'common')) {
        report(`${from} must not import ${to}`);
      }
    }
  }
  return violations;
}
