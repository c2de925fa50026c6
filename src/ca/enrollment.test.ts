import { describe, expect, it } from 'vitest';
import { ManualClock } from '../common/index.js';
import { CaSigner } from './ca-signer.js';
import {
  beginCaRotation,
  type CaState,
  createSignerForState,
  initialCaState,
  rotateJoinToken,
} from './ca-state.js';
import {
  type JoinTransport,
  joinWithToken,
  type RenewTransport,
  renewWithCertificate,
} from './enrollment.js';
import { roleForJoinToken } from './join-token.js';
import { parseNodeCertificate } from './node-identity.js';
import { createRootCa } from './root-ca.js';
import { servedRootPem, trustBundle } from './rotation.js';

const clock = new ManualClock(Date.UTC(2030, 6, 1));

/** A manager's CA reduced to its two join calls, recording everything it receives. */
class FakeManager implements JoinTransport {
  readonly received: { call: string; token?: string; csrPem?: string }[] = [];
  rootOverride: string | undefined;
  private nextId = 0;

  constructor(public state: CaState) {}

  async fetchRootCa(): Promise<string> {
    this.received.push({ call: 'fetchRootCa' });
    return this.rootOverride ?? servedRootPem(this.state.roots);
  }

  async requestCertificate(req: { token: string; csrPem: string }): Promise<string> {
    this.received.push({ call: 'requestCertificate', ...req });
    const role = roleForJoinToken(this.state.joinTokens, req.token);
    const signer = await createSignerForState(this.state, { clock });
    const nodeId = `node${this.nextId++}`;
    return (await signer.sign({ csrPem: req.csrPem, nodeId, role, clusterId: this.state.clusterId }))
      .certChainPem;
  }
}

async function cluster(): Promise<FakeManager> {
  return new FakeManager(await initialCaState({ clock }, { clusterId: 'cluster1' }));
}

describe('joinWithToken', () => {
  it('gets a certificate for a key made locally, with the role the token grants', async () => {
    const m = await cluster();
    const { rootCaPem, credentials } = await joinWithToken({ token: m.state.joinTokens.manager, clock }, m);
    expect(rootCaPem).toBe(m.state.roots.current.certPem);
    expect(credentials.identity).toMatchObject({ nodeId: 'node0', role: 'manager', clusterId: 'cluster1' });
    expect(parseNodeCertificate(credentials.certChainPem)).toEqual(credentials.identity);
    expect(m.received.map((r) => r.call)).toEqual(['fetchRootCa', 'requestCertificate']);
    expect(m.received[1]!.csrPem).toMatch(/BEGIN CERTIFICATE REQUEST/);
    expect(m.received[1]!.csrPem).not.toContain(credentials.keyPem.split('\n')[1]!);
  });

  it('aborts before sending the secret when the fetched root does not match the token', async () => {
    const m = await cluster();
    m.rootOverride = (await createRootCa({ clock })).certPem; // an impostor in the middle
    await expect(joinWithToken({ token: m.state.joinTokens.worker, clock }, m)).rejects.toMatchObject({
      code: 'UNAUTHENTICATED',
      name: 'RootCaMismatchError',
    });
    expect(m.received).toEqual([{ call: 'fetchRootCa' }]);
    const secret = m.state.joinTokens.worker.split('-')[3]!;
    expect(JSON.stringify(m.received)).not.toContain(secret);
  });

  it('refuses a malformed token before contacting anyone', async () => {
    const m = await cluster();
    await expect(joinWithToken({ token: 'SWMTKN-1-nope', clock }, m)).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      field: 'token',
    });
    expect(m.received).toEqual([]);
  });

  it('fails clearly with a rotated-away token', async () => {
    const m = await cluster();
    const old = m.state.joinTokens.worker;
    m.state = rotateJoinToken(m.state, 'worker');
    await expect(joinWithToken({ token: old, clock }, m)).rejects.toMatchObject({
      name: 'InvalidJoinTokenError',
    });
  });

  it('refuses a certificate that does not chain to the pinned root', async () => {
    const m = await cluster();
    const rogue = await CaSigner.create(await createRootCa({ clock }), { clock });
    const transport: JoinTransport = {
      fetchRootCa: () => m.fetchRootCa(),
      requestCertificate: async ({ csrPem }) =>
        (await rogue.sign({ csrPem, nodeId: 'x', role: 'manager', clusterId: 'cluster1' })).certChainPem,
    };
    await expect(joinWithToken({ token: m.state.joinTokens.worker, clock }, transport)).rejects.toMatchObject(
      {
        code: 'UNAUTHENTICATED',
        reason: 'unknown-authority',
      },
    );
  });
});

describe('renewWithCertificate', () => {
  function renewer(
    m: FakeManager,
    opts: { role?: 'manager' | 'worker'; nodeId?: string } = {},
  ): RenewTransport {
    return {
      requestRenewal: async ({ csrPem, current }) => {
        const signer = await createSignerForState(m.state, { clock });
        const id = current.identity;
        return (
          await signer.sign({
            csrPem,
            nodeId: opts.nodeId ?? id.nodeId,
            role: opts.role ?? id.role,
            clusterId: id.clusterId,
          })
        ).certChainPem;
      },
    };
  }

  it('renews with a new key, and picks up a role change', async () => {
    const m = await cluster();
    const { credentials, rootCaPem } = await joinWithToken({ token: m.state.joinTokens.worker, clock }, m);
    clock.advance(3_600_000);
    const renewed = await renewWithCertificate(
      { current: credentials, rootsPem: rootCaPem, clock },
      renewer(m, { role: 'manager' }),
    );
    expect(renewed.keyPem).not.toBe(credentials.keyPem);
    expect(renewed.identity).toMatchObject({ nodeId: credentials.identity.nodeId, role: 'manager' });
    expect(renewed.identity.notAfter).toBeGreaterThan(credentials.identity.notAfter);
  });

  it('accepts a new-root certificate during a rotation while trusting only the old root', async () => {
    const m = await cluster();
    const { credentials, rootCaPem } = await joinWithToken({ token: m.state.joinTokens.worker, clock }, m);
    m.state = await beginCaRotation(m.state, { clock });
    const renewed = await renewWithCertificate(
      { current: credentials, rootsPem: rootCaPem, clock },
      renewer(m),
    );
    expect(renewed.certChainPem.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
    expect(trustBundle(m.state.roots).rootsPem).toContain(rootCaPem);
  });

  it('refuses a certificate for another node', async () => {
    const m = await cluster();
    const { credentials, rootCaPem } = await joinWithToken({ token: m.state.joinTokens.worker, clock }, m);
    await expect(
      renewWithCertificate(
        { current: credentials, rootsPem: rootCaPem, clock },
        renewer(m, { nodeId: 'someone-else' }),
      ),
    ).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
  });
});
