import { mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const LOCK_DIR = '/run/swarmctl-mesh';

/**
 * One kernel data plane per network namespace: nodes sharing a namespace (several test nodes on
 * one machine) would otherwise fight over one table, one bridge name and one engine's networks.
 * Returns the release function, or undefined when a live process holds the namespace.
 */
export function lockNetns(dir = LOCK_DIR): (() => void) | undefined {
  const ino = statSync('/proc/self/ns/net').ino;
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `netns-${ino}.pid`);
  try {
    writeFileSync(path, String(process.pid), { flag: 'wx' });
  } catch {
    const holder = Number(readFileSync(path, 'utf8').trim());
    if (holder !== process.pid && alive(holder)) return undefined;
    writeFileSync(path, String(process.pid));
  }
  return () => {
    try {
      if (Number(readFileSync(path, 'utf8').trim()) === process.pid) unlinkSync(path);
    } catch {
      // Already gone.
    }
  };
}

function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
