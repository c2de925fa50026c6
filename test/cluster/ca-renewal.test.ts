import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../src/common/index.js';
import { SwarmNodes, type TestNode } from '../harness/swarm-nodes.js';
import { CallLoop, keyFile, materialOf, ok } from './ca-support.js';

/**
 * Certificate renewal with a short life, and unlock-key rotation, on real node processes. The
 * short life needs the testing-only limit, which the CLI passes on to the node it launches.
 */
const TESTING_ENV = 'SWARMCTL_TESTING_MIN_CERT_EXPIRY_MS';
let nodes: SwarmNodes;
let locked: SwarmNodes;

beforeAll(() => {
  process.env[TESTING_ENV] = '5000';
  nodes = new SwarmNodes(25460, 'swarm-ca-renewal-');
  locked = new SwarmNodes(25480, 'swarm-ca-unlock-');
});

afterAll(() => {
  delete process.env[TESTING_ENV];
  nodes?.teardown();
  locked?.teardown();
});

interface Seen {
  serial: string;
  notBefore: number;
  notAfter: number;
}

function leafOf(n: TestNode): Seen {
  const c = new X509Certificate(keyFile(n).certChainPem);
  return { serial: c.serialNumber, notBefore: Date.parse(c.validFrom), notAfter: Date.parse(c.validTo) };
}

describe('renewal of short-lived certificates', () => {
  it('renews every node before its certificate expires, while mTLS calls keep succeeding', async () => {
    ok(nodes.init(0, '--cert-expiry', '20s'));
    const mgr = nodes.node(0);
    ok(nodes.join(1, ok(mgr.cli('join-token', 'worker', '-q')).trim(), mgr));
    const worker = nodes.node(1);
    const history = new Map<string, Seen[]>([
      [mgr.name, [leafOf(mgr)]],
      [worker.name, [leafOf(worker)]],
    ]);
    expect(history.get(mgr.name)![0]!.notAfter - history.get(mgr.name)![0]!.notBefore).toBe(20_000);
    const loop = new CallLoop([mgr.addr], () => materialOf(mgr));
    loop.start();
    try {
      await waitFor(
        () => {
          for (const n of [mgr, worker]) {
            const seen = history.get(n.name)!;
            const now = leafOf(n);
            if (now.serial !== seen.at(-1)!.serial) seen.push(now);
          }
          const counts = [...history.values()].map((s) => s.length - 1);
          return counts.every((c) => c >= 2)
            ? { done: true, value: 0 }
            : { done: false, state: `renewals so far: ${counts.join(', ')}` };
        },
        { timeoutMs: 60_000, intervalMs: 200, what: 'two renewals of each node' },
      );
    } finally {
      await loop.stop();
    }
    for (const [name, seen] of history) {
      for (let i = 1; i < seen.length; i++) {
        // Each new certificate was issued while the previous one was still valid, 20 s long.
        expect(seen[i]!.notBefore, `${name} renewal ${i}`).toBeLessThan(seen[i - 1]!.notAfter);
        expect(seen[i]!.notAfter - seen[i]!.notBefore).toBe(20_000);
      }
    }
    expect(loop.failures).toEqual([]);
    expect(loop.ok).toBeGreaterThan(50);
  }, 120_000);
});

describe('unlock key rotation', () => {
  it('locks a restarted manager under the new key only, also after a renewal', async () => {
    const init = ok(locked.init(0, '--autolock'));
    const mgr = locked.node(0);
    const oldKey = /SWMKEY-1-\S+/.exec(init)![0];
    expect(ok(mgr.cli('unlock-key', '-q')).trim()).toBe(oldKey);
    const newKey = ok(mgr.cli('unlock-key', '--rotate', '-q')).trim();
    expect(newKey).toMatch(/^SWMKEY-1-/);
    expect(newKey).not.toBe(oldKey);
    const keyPath = join(mgr.dir, 'certificates/swarm-node.key.json');
    await waitFor(
      () => {
        const v = (JSON.parse(readFileSync(keyPath, 'utf8')) as { kekVersion: number }).kekVersion;
        return v === 2 ? { done: true, value: v } : { done: false, state: `kekVersion ${v}` };
      },
      { timeoutMs: 10_000, what: 'the key file to be re-sealed under the new unlock key' },
    );
    // A renewal (here from a root rotation) keeps the key file sealed under the current key.
    const before = keyFile(mgr).certChainPem;
    ok(mgr.cli('ca', '--rotate', '-q'));
    await waitFor(
      () => {
        const k = JSON.parse(readFileSync(keyPath, 'utf8')) as { certChainPem: string; sealed?: unknown };
        return k.certChainPem !== before && k.sealed !== undefined
          ? { done: true, value: 0 }
          : { done: false, state: `renewed ${k.certChainPem !== before}, sealed ${k.sealed !== undefined}` };
      },
      { timeoutMs: 10_000, what: 'the renewed certificate in a sealed key file' },
    );
    expect(keyFile(mgr).secrets).toBeUndefined();
    process.kill(locked.pid(mgr)!, 'SIGTERM');
    await waitFor(
      () =>
        locked.pid(mgr) === undefined ? { done: true, value: 0 } : { done: false, state: 'still running' },
      { timeoutMs: 10_000, what: 'the manager to stop' },
    );
    ok(mgr.cli('daemon', '-d', '--state-dir', mgr.dir, '--control-socket', mgr.socket));
    expect(JSON.parse(ok(mgr.cli('info', '--format', 'json'))).node.locked).toBe(true);
    const withOld = mgr.cli('unlock', '--key', oldKey);
    expect(withOld.status).not.toBe(0);
    expect(withOld.stderr).toContain('invalid unlock key');
    ok(mgr.cli('unlock', '--key', newKey));
    await waitFor(
      () => {
        const r = mgr.cli('node', 'ls');
        return r.status === 0 ? { done: true, value: r.stdout } : { done: false, state: r.stderr };
      },
      { timeoutMs: 20_000, what: 'the unlocked manager to serve' },
    );
  }, 90_000);
});
