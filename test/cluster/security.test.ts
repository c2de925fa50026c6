import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CaService, ControlService, MembershipService } from '../../src/api/index.js';
import { generateNodeKeyAndCsr } from '../../src/ca/index.js';
import { isSwarmError, waitFor } from '../../src/common/index.js';
import { RaftService } from '../../src/raft/index.js';
import { clientCredentials, createClient, serverNameOverride } from '../../src/rpc/index.js';
import { ok } from '../harness/cluster-cli.js';
import { SwarmNodes, type TestNode } from '../harness/swarm-nodes.js';
import { createTestCa, type TestCa } from '../harness/test-ca.js';

/**
 * The cluster's security on real node processes: one autolocked manager that others join, a
 * worker and a second manager, all on loopback with mutual TLS.
 */
let nodes: SwarmNodes;
let mgr: TestNode;
let worker: TestNode;
let mgr2: TestNode;
let otherCa: TestCa;
let unlockKey: string;
let workerId: string;

function keyFile(n: TestNode): { certChainPem: string; secrets?: { tlsKeyPem: string } } {
  return JSON.parse(readFileSync(join(n.dir, 'certificates/swarm-node.key.json'), 'utf8'));
}
function rootPem(n: TestNode): string {
  return readFileSync(join(n.dir, 'certificates/swarm-root-ca.crt'), 'utf8');
}
beforeAll(async () => {
  nodes = new SwarmNodes(25100, 'swarm-security-');
  otherCa = createTestCa('impostor');
  const init = ok(nodes.init(0, '--autolock'));
  unlockKey = /SWMKEY-1-\S+/.exec(init)![0];
  mgr = nodes.node(0);
  const workerToken = ok(mgr.cli('join-token', 'worker', '-q')).trim();
  const managerToken = ok(mgr.cli('join-token', 'manager', '-q')).trim();
  ok(nodes.join(1, workerToken, mgr));
  worker = nodes.node(1);
  ok(nodes.join(2, managerToken, mgr));
  mgr2 = nodes.node(2);
  workerId = JSON.parse(ok(worker.cli('info', '--format', 'json'))).node.nodeId;
});

afterAll(() => {
  nodes?.teardown();
  otherCa?.dispose();
});

type Trust = { ca: string; cert?: string; key?: string };
async function callEach(addr: string, trust: Trust): Promise<Record<string, string>> {
  const opts = serverNameOverride();
  const creds = clientCredentials(trust);
  const outcome = async (p: Promise<unknown>): Promise<string> => {
    try {
      await p;
      return 'OK';
    } catch (e) {
      return isSwarmError(e) ? e.code : `other: ${String(e)}`;
    }
  };
  const ca = createClient(CaService, addr, creds, opts);
  const control = createClient(ControlService, addr, creds, opts);
  const membership = createClient(MembershipService, addr, creds, opts);
  const raft = createClient(RaftService, addr, creds, opts);
  const { csrPem } = await generateNodeKeyAndCsr();
  // A server stream: the outcome is whether its first read is refused (a refused call ends at once).
  const pull = async (): Promise<void> => {
    for await (const _ of raft.call.Pull({ to: 'x' }, { timeoutMs: 5000 })) return;
  };
  try {
    const send = raft.call.Send({ timeoutMs: 5000 });
    return {
      'CA.GetRootCACertificate': await outcome(ca.call.GetRootCACertificate({}, { timeoutMs: 5000 })),
      'CA.RenewNodeCertificate': await outcome(ca.call.RenewNodeCertificate({ csrPem }, { timeoutMs: 5000 })),
      'Control.Info': await outcome(control.call.Info({}, { timeoutMs: 5000 })),
      'Control.ListNodes': await outcome(control.call.ListNodes({}, { timeoutMs: 5000 })),
      'Control.RemoveNode': await outcome(control.call.RemoveNode({ id: 'x' }, { timeoutMs: 5000 })),
      'Membership.Join': await outcome(
        membership.call.Join({ nodeId: 'x', raftAddr: '127.0.0.1:1' }, { timeoutMs: 5000 }),
      ),
      'Raft.Send': await outcome(send.end()),
      'Raft.Pull': await outcome(pull()),
    };
  } finally {
    for (const c of [ca, control, membership, raft]) c.close();
  }
}

describe('mutual TLS on the inter-node listener', () => {
  it('lets a client without a certificate, or with one of another CA, reach only the join calls', async () => {
    const anonymous = await callEach(mgr.addr, { ca: rootPem(mgr) });
    const impostor = await callEach(mgr.addr, {
      ca: rootPem(mgr),
      ...otherCa.issue({ nodeId: 'evil', role: 'swarm-manager', clusterId: 'x' }),
    });
    for (const result of [anonymous, impostor]) {
      expect(result).toEqual({
        'CA.GetRootCACertificate': 'OK',
        'CA.RenewNodeCertificate': 'UNAUTHENTICATED',
        'Control.Info': 'UNAUTHENTICATED',
        'Control.ListNodes': 'UNAUTHENTICATED',
        'Control.RemoveNode': 'UNAUTHENTICATED',
        'Membership.Join': 'UNAUTHENTICATED',
        'Raft.Send': 'UNAUTHENTICATED',
        'Raft.Pull': 'UNAUTHENTICATED',
      });
    }
    // The join call itself answers, and refuses a bad token.
    const ca = createClient(
      CaService,
      mgr.addr,
      clientCredentials({ ca: rootPem(mgr) }),
      serverNameOverride(),
    );
    const { csrPem } = await generateNodeKeyAndCsr();
    const e = await ca.call
      .IssueNodeCertificate({ token: `SWMTKN-1-${'0'.repeat(50)}-${'0'.repeat(25)}`, csrPem })
      .catch((x: unknown) => x);
    ca.close();
    expect(isSwarmError(e, 'UNAUTHENTICATED')).toBe(true);
  });

  it('refuses a worker certificate on manager-only methods with PERMISSION_DENIED', async () => {
    const k = keyFile(worker);
    const result = await callEach(mgr.addr, {
      ca: rootPem(mgr),
      cert: k.certChainPem,
      key: k.secrets!.tlsKeyPem,
    });
    expect(result).toEqual({
      'CA.GetRootCACertificate': 'OK',
      'CA.RenewNodeCertificate': 'OK',
      'Control.Info': 'PERMISSION_DENIED',
      'Control.ListNodes': 'PERMISSION_DENIED',
      'Control.RemoveNode': 'PERMISSION_DENIED',
      'Membership.Join': 'PERMISSION_DENIED',
      'Raft.Send': 'PERMISSION_DENIED',
      'Raft.Pull': 'PERMISSION_DENIED',
    });
  });

  it('refuses a removed node within one second of its removal, although its certificate has not expired', async () => {
    const k = keyFile(worker);
    const client = createClient(
      CaService,
      mgr2.addr,
      clientCredentials({ ca: rootPem(mgr), cert: k.certChainPem, key: k.secrets!.tlsKeyPem }),
      serverNameOverride(),
    );
    try {
      const { csrPem } = await generateNodeKeyAndCsr();
      await client.call.RenewNodeCertificate({ csrPem }, { timeoutMs: 5000 });
      ok(mgr.cli('node', 'rm', '--force', workerId));
      const removedAt = performance.now();
      await waitFor(
        async () => {
          const e = await client.call.RenewNodeCertificate({ csrPem }, { timeoutMs: 2000 }).then(
            () => null,
            (x: unknown) => x,
          );
          return isSwarmError(e, 'PERMISSION_DENIED')
            ? { done: true, value: 0 }
            : { done: false, state: String(e) };
        },
        { timeoutMs: 5000, intervalMs: 20, what: 'the removed worker to be refused on the other manager' },
      );
      expect(performance.now() - removedAt).toBeLessThan(1000);
    } finally {
      client.close();
    }
  });
});

describe('joining', () => {
  it('aborts a join whose token pins another root before sending the secret, leaving no state', () => {
    const token = ok(mgr.cli('join-token', 'worker', '-q')).trim();
    const parts = token.split('-');
    const forged = [parts[0], parts[1], 'z'.repeat(parts[2]!.length), parts[3]].join('-');
    const r = nodes.join(3, forged, mgr);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/root|digest|token/i);
    const dir = nodes.node(3).dir;
    expect(readdirSync(dir).filter((f) => f !== 'daemon.log' && f !== 'ctl.sock')).toEqual([]);
  });
});

describe('autolock and encryption at rest', () => {
  it('keeps a restarted manager locked until the right unlock key is given', async () => {
    const pid = nodes.pid(mgr2)!;
    process.kill(pid, 'SIGTERM');
    const alive = (): boolean => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    await waitFor(
      () => (alive() ? { done: false, state: `process ${pid} still running` } : { done: true, value: 0 }),
      {
        timeoutMs: 10_000,
        what: 'the manager to stop',
      },
    );
    ok(mgr2.cli('daemon', '-d', '--state-dir', mgr2.dir, '--control-socket', mgr2.socket));
    const status = JSON.parse(ok(mgr2.cli('info', '--format', 'json'))).node;
    expect(status.locked).toBe(true);
    const refused = mgr2.cli('node', 'ls');
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toContain('unlock');
    const wrong = mgr2.cli('unlock', '--key', `SWMKEY-1-${'A'.repeat(43)}`);
    expect(wrong.status).not.toBe(0);
    expect(wrong.stderr).toContain('invalid unlock key');
    ok(mgr2.cli('unlock', '--key', unlockKey));
    await waitFor(
      () => {
        const r = mgr2.cli('node', 'ls');
        return r.status === 0 ? { done: true, value: r.stdout } : { done: false, state: r.stderr };
      },
      { timeoutMs: 20_000, what: 'the unlocked manager to serve' },
    );
  });

  it('never writes a value replicated through Raft in plaintext to the WAL or snapshots', async () => {
    const secret = `distinctive-${Date.now().toString(36)}-value`;
    const self = JSON.parse(ok(mgr.cli('info', '--format', 'json'))).node.nodeId as string;
    // Writes need a leader: the restart in the previous test may still be settling an election.
    await waitFor(
      () => {
        const r = mgr.cli('node', 'update', '--label-add', `probe=${secret}`, self);
        return r.status === 0 ? { done: true, value: 0 } : { done: false, state: r.stderr };
      },
      { timeoutMs: 20_000, intervalMs: 200, what: 'the label update to be accepted' },
    );
    await waitFor(
      () => {
        const r = mgr2.cli('node', 'ls', '--format', 'json');
        return r.stdout.includes(secret)
          ? { done: true, value: 0 }
          : { done: false, state: r.stderr || 'not replicated yet' };
      },
      { timeoutMs: 20_000, what: 'the label to replicate to the second manager' },
    );
    const files = (dir: string): string[] =>
      readdirSync(dir).flatMap((f) => {
        const p = join(dir, f);
        return statSync(p).isDirectory() ? files(p) : [p];
      });
    const raftFiles = [...files(join(mgr.dir, 'raft')), ...files(join(mgr2.dir, 'raft'))];
    expect(raftFiles.length).toBeGreaterThan(1);
    for (const f of raftFiles) expect(readFileSync(f).includes(Buffer.from(secret)), f).toBe(false);
  });
});
