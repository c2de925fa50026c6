import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '../..');
const exe = join(root, 'dist/swarmctl');
let alone: string;

beforeAll(() => {
  // Build afresh so the embedded commit is HEAD's (a stale dist/ would carry an older one).
  execFileSync(process.execPath, [join(root, 'scripts/build.mjs')], { stdio: 'ignore' });
  alone = mkdtempSync(join(tmpdir(), 'swarmctl-alone-'));
  copyFileSync(exe, join(alone, 'swarmctl'));
});
afterAll(() => rmSync(alone, { recursive: true, force: true }));

describe('the single executable', () => {
  it('runs `version` when copied alone to an empty directory', () => {
    expect(readdirSync(alone)).toEqual(['swarmctl']);
    const r = spawnSync(join(alone, 'swarmctl'), ['version'], {
      cwd: alone,
      encoding: 'utf8',
      env: { PATH: '/usr/bin:/bin' },
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version as string;
    expect(r.stdout).toContain(`Version:     ${version}`);
    const commit = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], {
      cwd: root,
      encoding: 'utf8',
    }).trim();
    expect(r.stdout).toMatch(new RegExp(`Git commit:  ${commit}(-dirty)?\\n`));
  });

  it('shows the command tree with --help and refuses an unknown command', () => {
    const help = spawnSync(join(alone, 'swarmctl'), ['--help'], { cwd: alone, encoding: 'utf8' });
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('Usage: swarmctl');
    expect(help.stdout).toMatch(/Commands:\n\s+version/);
    const bad = spawnSync(join(alone, 'swarmctl'), ['no-such-verb'], { cwd: alone, encoding: 'utf8' });
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toContain("unknown command 'no-such-verb'");
  });
});
