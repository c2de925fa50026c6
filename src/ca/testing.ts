// Test support only: runs Debian's openssl over PEM files in a scratch directory, so tests check
// our certificates with an independent X.509 implementation.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface OpensslResult {
  status: number;
  stdout: string;
  stderr: string;
}

export interface OpensslScratch {
  dir: string;
  /** Writes `content` to `name` in the scratch directory and returns its path. */
  file(name: string, content: string): string;
  run(...args: string[]): OpensslResult;
  dispose(): void;
}

export function opensslScratch(): OpensslScratch {
  const dir = mkdtempSync(join(tmpdir(), 'ca-openssl-'));
  return {
    dir,
    file(name, content) {
      const p = join(dir, name);
      writeFileSync(p, content);
      return p;
    },
    run(...args) {
      try {
        const stdout = execFileSync('openssl', args, { cwd: dir, stdio: 'pipe', encoding: 'utf8' });
        return { status: 0, stdout, stderr: '' };
      } catch (e) {
        const err = e as { status?: number; stdout?: string; stderr?: string };
        return { status: err.status ?? -1, stdout: err.stdout ?? '', stderr: err.stderr ?? String(e) };
      }
    },
    dispose() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
