import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { connect, createServer } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock, systemClock } from '../common/index.js';
import { CaSigner } from './ca-signer.js';
import { generateJoinTokens, parseJoinToken, rootCaDigest } from './join-token.js';
import { generateNodeKeyAndCsr, verifyNodeCertificate } from './node-identity.js';
import { createRootCa } from './root-ca.js';
import {
  beginRootRotation,
  type CaRoots,
  completeRootRotation,
  isIssuedUnder,
  servedRootPem,
  signingMaterial,
  trustBundle,
} from './rotation.js';
import { type OpensslScratch, opensslScratch } from './testing.js';

let scratch: OpensslScratch | undefined;
afterEach(() => {
  scratch?.dispose();
  scratch = undefined;
});

async function issue(roots: CaRoots, nodeId: string, clock = systemClock) {
  const signer = await CaSigner.create(signingMaterial(roots), { clock });
  const { keyPem, csrPem } = await generateNodeKeyAndCsr();
  const issued = await signer.sign({ csrPem, nodeId, role: 'manager', clusterId: 'cluster1' });
  return { ...issued, keyPem };
}

describe('root rotation', () => {
  it('cross-signs so a certificate from the new root verifies with only the old root plus the intermediate', async () => {
    const before: CaRoots = { current: await createRootCa({ clock: systemClock }) };
    const oldLeaf = await issue(before, 'old-node');
    const during = await beginRootRotation(before, { clock: systemClock });
    const rotation = during.rotation!;
    const newLeaf = await issue(during, 'new-node');

    // The issued chain is leaf + cross-signed intermediate.
    const [leafPem, crossPem] = newLeaf.certChainPem.split(/(?<=-----END CERTIFICATE-----\n)/);
    expect(crossPem).toBe(rotation.crossSignedPem);
    expect(isIssuedUnder(newLeaf.certChainPem, rotation.newRoot.certPem)).toBe(true);
    expect(isIssuedUnder(newLeaf.certChainPem, before.current.certPem)).toBe(false);
    expect(isIssuedUnder(oldLeaf.certChainPem, before.current.certPem)).toBe(true);

    scratch = opensslScratch();
    const oldRoot = scratch.file('old-root.pem', before.current.certPem);
    const newRoot = scratch.file('new-root.pem', rotation.newRoot.certPem);
    const cross = scratch.file('cross.pem', rotation.crossSignedPem);
    const leaf = scratch.file('leaf.pem', leafPem!);
    const verify = scratch.run('verify', '-CAfile', oldRoot, '-untrusted', cross, leaf);
    expect(verify.stderr).toBe('');
    expect(verify.stdout.trim()).toBe(`${leaf}: OK`);
    expect(scratch.run('verify', '-CAfile', newRoot, leaf).status).toBe(0);
    // Without the intermediate the old root alone cannot vouch for it: the intermediate matters.
    expect(scratch.run('verify', '-CAfile', oldRoot, leaf).status).not.toBe(0);
    // The cross-signed certificate itself chains to the old root.
    expect(scratch.run('verify', '-CAfile', oldRoot, cross).status).toBe(0);

    // The same in code, with the chain as issued and with trust from the rotation bundle.
    const clock = systemClock;
    expect(
      verifyNodeCertificate({ certChainPem: newLeaf.certChainPem, rootsPem: before.current.certPem, clock })
        .nodeId,
    ).toBe('new-node');
    expect(() =>
      verifyNodeCertificate({ certChainPem: leafPem!, rootsPem: before.current.certPem, clock }),
    ).toThrow(expect.objectContaining({ reason: 'unknown-authority' }));
    const bundle = trustBundle(during);
    expect(bundle.rootsPem).toEqual([before.current.certPem, rotation.newRoot.certPem]);
    for (const chain of [oldLeaf.certChainPem, newLeaf.certChainPem, leafPem!]) {
      expect(() =>
        verifyNodeCertificate({ certChainPem: chain, rootsPem: bundle.rootsPem, clock }),
      ).not.toThrow();
    }
  });

  it('lets a TLS client that trusts only the old root talk to a server holding a new-root certificate', async () => {
    const before: CaRoots = { current: await createRootCa({ clock: systemClock }) };
    const during = await beginRootRotation(before, { clock: systemClock });
    const server = await issue(during, 'server-node');
    const client = await issue(before, 'client-node');
    const tlsServer = createServer(
      {
        cert: server.certChainPem,
        key: server.keyPem,
        ca: trustBundle(during).rootsPem,
        requestCert: true,
        rejectUnauthorized: true,
      },
      (socket) => socket.end('hello'),
    );
    tlsServer.listen(0, '127.0.0.1');
    await once(tlsServer, 'listening');
    try {
      const port = (tlsServer.address() as AddressInfo).port;
      const socket = connect({
        host: '127.0.0.1',
        port,
        servername: 'swarm-manager',
        ca: before.current.certPem,
        cert: client.certChainPem,
        key: client.keyPem,
      });
      const chunks: Buffer[] = [];
      socket.on('data', (c: Buffer) => chunks.push(c));
      await once(socket, 'end');
      expect(socket.authorized).toBe(true);
      expect(Buffer.concat(chunks).toString()).toBe('hello');
      socket.destroy();
    } finally {
      tlsServer.close();
    }
  });

  it('keeps the served root and tokens during the rotation and changes them on completion', async () => {
    const clock = new ManualClock(Date.UTC(2030, 0, 1));
    const before: CaRoots = { current: await createRootCa({ clock }) };
    const during = await beginRootRotation(before, { clock });
    expect(servedRootPem(during)).toBe(before.current.certPem);
    const after = completeRootRotation(during);
    expect(after).toEqual({ current: during.rotation!.newRoot });
    expect(signingMaterial(after)).toEqual({ certPem: after.current.certPem, keyPem: after.current.keyPem });
    expect(trustBundle(after)).toEqual({ rootsPem: [after.current.certPem], intermediatesPem: [] });

    const oldTokens = generateJoinTokens(servedRootPem(before));
    const newTokens = generateJoinTokens(servedRootPem(after));
    expect(parseJoinToken(newTokens.worker).rootDigest).toBe(rootCaDigest(after.current.certPem));
    expect(parseJoinToken(newTokens.worker).rootDigest).not.toBe(parseJoinToken(oldTokens.worker).rootDigest);

    expect(() => completeRootRotation(after)).toThrow(
      expect.objectContaining({ code: 'FAILED_PRECONDITION' }),
    );
    await expect(beginRootRotation(before, { clock }, { newRoot: before.current })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      field: 'newRoot',
    });
  });

  it('after completion, new-root certificates need no intermediate and old-root ones are refused', async () => {
    const before: CaRoots = { current: await createRootCa({ clock: systemClock }) };
    const oldLeaf = await issue(before, 'old-node');
    const after = completeRootRotation(await beginRootRotation(before, { clock: systemClock }));
    const newLeaf = await issue(after, 'new-node');
    expect(newLeaf.certChainPem.match(/BEGIN CERTIFICATE/g)).toHaveLength(1);
    const rootsPem = trustBundle(after).rootsPem;
    expect(
      verifyNodeCertificate({ certChainPem: newLeaf.certChainPem, rootsPem, clock: systemClock }).nodeId,
    ).toBe('new-node');
    expect(() =>
      verifyNodeCertificate({ certChainPem: oldLeaf.certChainPem, rootsPem, clock: systemClock }),
    ).toThrow(expect.objectContaining({ code: 'UNAUTHENTICATED' }));
  });
});
