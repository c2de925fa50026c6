/**
 * Test habits that hide gaps (style-models §8.8): focused/skipped tests and fixed sleeps. A line
 * that truly needs a timer (e.g. a test of a timeout itself) says why with `hygiene-ok: <reason>`.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

export interface HygieneFinding {
  file: string;
  line: number;
  rule: string;
}

const RULES: readonly { rule: string; re: RegExp }[] = [
  { rule: 'focused or skipped test', re: /\b(?:it|test|describe)\.(?:only|skip|todo)\s*\(/ },
  {
    rule: 'fixed sleep (wait for a condition or event instead)',
    re: /new Promise[^\n]*setTimeout|\bsleep\s*\(|\bdelay\s*\(\s*\d/,
  },
  { rule: 'assertion that cannot fail', re: /expect\((?:true|1)\)\.toBe\((?:true|1)\)/ },
];

function testFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...testFiles(p));
    else if (/\.test\.ts$/.test(name) || (p.includes(`${join('test', 'harness')}`) && name.endsWith('.ts')))
      out.push(p);
  }
  return out;
}

export function checkTestHygiene(roots: readonly string[]): HygieneFinding[] {
  const findings: HygieneFinding[] = [];
  for (const root of roots) {
    for (const file of testFiles(root)) {
      const lines = readFileSync(file, 'utf8').split('\n');
      lines.forEach((text, i) => {
        if (text.includes('hygiene-ok:')) return;
        for (const { rule, re } of RULES) {
          if (re.test(text)) findings.push({ file: relative(process.cwd(), file), line: i + 1, rule });
        }
      });
    }
  }
  return findings;
}
