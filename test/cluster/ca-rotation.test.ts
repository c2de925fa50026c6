import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rootCaDigest } from '../../src/ca/index.js';
import { opensslScratch } from '../../src/ca/testing.js';
import { waitFor } from '../../src/common/index.js';
import { run, SwarmNodes, type TestNode } from '../harness/swarm-nodes.js';
import { CallLoop, certOf, keyFile, materialOf, ok, rootFile, runAsync } from './ca-support.js';

/**
 * The CA on a running cluster of real processes (two managers, one worker, loopback, mTLS):
 * promote/demote reissue the certificate, `ca --rotate` moves every node to a new root without
 * losing a call, and the CLI reaches a remote manager over TCP with a manager certificate only.
 */
let nodes: SwarmNodes;
let mgr: TestNode;
let worker: TestNode;
let mgr2: TestNode;
let workerId: string;

beforeAll(() => {
  nodes = new SwarmNodes(25200, 'swarm-ca-rotation-');
  ok(nodes.init(0));
  mgr = nodes.node(0);
  const workerToken = ok(mgr.cli('join-token', 'worker', '-q')).trim();
  const managerToken = ok(mgr.cli('join-token', 'manager', '-q')).trim();
  ok(nodes.join(1, workerToken, mgr));
  worker = nodes.node(1);
  ok(nodes.join(2, managerToken, mgr));
  mgr2 = nodes.node(2);
  workerId = JSON.parse(ok(worker.cli('info', '--format', 'json'))).node.nodeId;
}, 120_000);

afterAll(() => {
  nodes?.teardown();
});

const END = '-----END CERTIFICATE-----';
function leafOf(chainPem: string): string {
  return `${chainPem.slice(0, chainPem.indexOf(END))}${END}\n`;
}

async function waitForRole(n: TestNode, role: 'manager' | 'worker'): Promise<void> {
  await waitFor(
    () => {
      const c = certOf(n);
      return c.role === role
        ? { done: true, value: 0 }
        : { done: false, state: `certificate role ${c.role}` };
    },
    { timeoutMs: 30_000, intervalMs: 200, what: `${n.name}'s certificate to carry role ${role}` },
  );
}

describe('certificates follow the desired role', () => {
  it('reissues the certificate as swarm-manager on promote and swarm-worker on demote', async () => {
    const before = certOf(worker);
    expect(before.role).toBe('worker');
    ok(mgr.cli('node', 'promote', workerId));
    await waitForRole(worker, 'manager');
    const promoted = keyFile(worker).certChainPem;
    const scratch = opensslScratch();
    try {
      const subject = scratch.run('x509', '-noout', '-subject', '-in', scratch.file('leaf.pem', promoted));
      expect(subject.stdout).toContain('OU = swarm-manager');
      expect(subject.stdout).toContain(`CN = ${workerId}`);
      ok(mgr.cli('node', 'demote', workerId));
      await waitForRole(worker, 'worker');
      const demoted = scratch.run(
        'x509',
        '-noout',
        '-subject',
        '-in',
        scratch.file('leaf2.pem', keyFile(worker).certChainPem),
      );
      expect(demoted.stdout).toContain('OU = swarm-worker');
    } finally {
      scratch.dispose();
    }
  }, 90_000);
});

describe('root rotation', () => {
  it('moves every node to a new root while a client keeps calling, and retires the old tokens', async () => {
    const oldRoot = rootFile(mgr);
    const oldWorkerToken = ok(mgr.cli('join-token', 'worker', '-q')).trim();
    const oldManagerToken = ok(mgr.cli('join-token', 'manager', '-q')).trim();
    // The client holds the second manager's certificate and calls both managers.
    const loop = new CallLoop([mgr.addr, mgr2.addr], () => materialOf(mgr2));
    loop.start();
    let rotation: Awaited<ReturnType<typeof runAsync>>;
    try {
      await waitFor(
        () => (loop.ok >= 5 ? { done: true, value: 0 } : { done: false, state: `${loop.ok} calls` }),
        {
          timeoutMs: 10_000,
          what: 'the client to be calling',
        },
      );
      rotation = await runAsync(['-H', `unix://${mgr.socket}`, 'ca', '--rotate']);
      const okBefore = loop.ok;
      // A few more calls after completion, with the files the nodes hold now.
      await waitFor(
        () =>
          loop.ok >= okBefore + 10 ? { done: true, value: 0 } : { done: false, state: `${loop.ok} calls` },
        { timeoutMs: 15_000, what: 'calls after the rotation' },
      );
    } finally {
      await loop.stop();
    }
    expect(rotation.stderr).toBe('');
    expect(rotation.status).toBe(0);
    expect(rotation.stdout).toMatch(/rotating root CA: \d\/3 nodes/);
    expect(rotation.stdout).toContain('root CA rotation complete');
    expect(loop.failures).toEqual([]);
    expect(loop.ok).toBeGreaterThan(20);

    const newRoot = ok(mgr.cli('ca'));
    expect(newRoot).not.toBe(oldRoot);
    const info = JSON.parse(ok(mgr.cli('info', '--format', 'json'))).cluster;
    expect(info.rootCaDigest).toBe(rootCaDigest(newRoot));
    expect(info.rootRotation).toBeUndefined();
    const scratch = opensslScratch();
    try {
      const rootPath = scratch.file('new-root.pem', newRoot);
      const oldPath = scratch.file('old-root.pem', oldRoot);
      for (const n of [mgr, worker, mgr2]) {
        // Each node trusts the new root only, and its leaf verifies under it alone.
        await waitFor(
          () =>
            rootFile(n) === newRoot
              ? { done: true, value: 0 }
              : { done: false, state: 'root file not updated' },
          { timeoutMs: 10_000, what: `${n.name} to trust only the new root` },
        );
        const leaf = scratch.file(`${n.name}.pem`, leafOf(keyFile(n).certChainPem));
        expect(scratch.run('verify', '-CAfile', rootPath, leaf).stdout).toContain(': OK');
        expect(scratch.run('verify', '-CAfile', oldPath, leaf).status).not.toBe(0);
      }
    } finally {
      scratch.dispose();
    }

    const newWorkerToken = ok(mgr.cli('join-token', 'worker', '-q')).trim();
    const newManagerToken = ok(mgr.cli('join-token', 'manager', '-q')).trim();
    expect(newWorkerToken).not.toBe(oldWorkerToken);
    expect(newManagerToken).not.toBe(oldManagerToken);
    const refused = nodes.join(3, oldWorkerToken, mgr);
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toMatch(/root|token/i);
    ok(nodes.join(4, newWorkerToken, mgr));
  }, 180_000);
});

describe('the CLI against a remote manager over TCP', () => {
  it('works with a manager certificate and is refused with a worker certificate', () => {
    const scratch = opensslScratch();
    try {
      const tlsFlags = (n: TestNode): string[] => {
        const m = materialOf(n);
        return [
          '--tlscacert',
          scratch.file(`${n.name}-ca.pem`, m.ca),
          '--tlscert',
          scratch.file(`${n.name}-cert.pem`, m.cert),
          '--tlskey',
          scratch.file(`${n.name}-key.pem`, m.key),
        ];
      };
      const asManager = run(['-H', `tcp://${mgr.addr}`, ...tlsFlags(mgr2), 'join-token', 'worker', '-q']);
      expect(asManager.stderr).toBe('');
      expect(asManager.stdout).toMatch(/^SWMTKN-1-/);
      const root = run(['-H', `tcp://${mgr.addr}`, ...tlsFlags(mgr2), 'ca']);
      expect(root.stdout).toBe(ok(mgr.cli('ca')));
      const asWorker = run(['-H', `tcp://${mgr.addr}`, ...tlsFlags(worker), 'join-token', 'worker', '-q']);
      expect(asWorker.status).not.toBe(0);
      expect(asWorker.stderr).toContain('is for managers');
      const noCert = run(['-H', `tcp://${mgr.addr}`, 'join-token', 'worker']);
      expect(noCert.status).not.toBe(0);
      expect(noCert.stderr).toContain('--tlscacert');
    } finally {
      scratch.dispose();
    }
  });
});

describe('ca --cert-expiry', () => {
  it('changes the life of certificates issued from now on, and keeps the one-hour minimum', () => {
    ok(mgr.cli('ca', '--cert-expiry', '48h'));
    expect(JSON.parse(ok(mgr.cli('info', '--format', 'json'))).cluster.certExpiryMs).toBe(48 * 3_600_000);
    const tooShort = mgr.cli('ca', '--cert-expiry', '20s');
    expect(tooShort.status).not.toBe(0);
    expect(tooShort.stderr).toContain('cert-expiry');
    expect(tooShort.stderr).toContain('at least');
    expect(JSON.parse(ok(mgr.cli('info', '--format', 'json'))).cluster.certExpiryMs).toBe(48 * 3_600_000);
  });
});
