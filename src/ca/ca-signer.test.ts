import { X509Certificate } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { isSwarmError, ManualClock } from '../common/index.js';
import { CaSigner, DEFAULT_CERT_EXPIRY_MS, validateCertExpiry } from './ca-signer.js';
import { generateNodeKeyAndCsr, parseNodeCertificate, verifyNodeCertificate } from './node-identity.js';
import { createRootCa, DEFAULT_ROOT_CA_VALIDITY_MS, parseRootCa } from './root-ca.js';
import { type OpensslScratch, opensslScratch } from './testing.js';

const NOW = Date.UTC(2030, 0, 15, 12, 0, 0);
const NODE_ID = 'k3q9x0v7m2n4b6c8d1f5g7h9j';
const CLUSTER_ID = 'c1u2s3t4e5r6i7d8a9b0c1d2e';

let scratch: OpensslScratch | undefined;
afterEach(() => {
  scratch?.dispose();
  scratch = undefined;
});

async function setup(options: { certExpiryMs?: number } = {}) {
  const clock = new ManualClock(NOW);
  const root = await createRootCa({ clock });
  const signer = await CaSigner.create(root, { clock }, options);
  return { clock, root, signer };
}

describe('root CA', () => {
  it('is a self-signed ECDSA P-256 CA valid for 20 years', async () => {
    const { root } = await setup();
    const cert = new X509Certificate(root.certPem);
    expect(cert.ca).toBe(true);
    expect(cert.subject).toBe('CN=swarm-ca');
    expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(Date.parse(cert.validTo) - Date.parse(cert.validFrom)).toBe(DEFAULT_ROOT_CA_VALIDITY_MS);
    scratch = opensslScratch();
    const text = scratch.run('x509', '-in', scratch.file('root.pem', root.certPem), '-noout', '-text');
    expect(text.status).toBe(0);
    expect(text.stdout).toMatch(/CA:TRUE/);
    expect(text.stdout).toMatch(/Certificate Sign/);
    expect(text.stdout).toMatch(/ecdsa-with-SHA256/);
    expect(text.stdout).toMatch(/prime256v1|P-256/);
  });

  it('round-trips through PEM and refuses a key that is not its own', async () => {
    const { root } = await setup();
    const other = await createRootCa({ clock: new ManualClock(NOW) });
    expect(parseRootCa(root.certPem, root.keyPem)).toEqual(root);
    expect(() => parseRootCa(root.certPem, other.keyPem)).toThrow(/does not match/);
    const err = (() => {
      try {
        parseRootCa(root.certPem, other.keyPem);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(isSwarmError(err, 'INVALID_ARGUMENT')).toBe(true);
  });
});

describe('CaSigner', () => {
  it('issues a node certificate that Debian openssl verifies, with the subject docker uses', async () => {
    const { root, signer, clock } = await setup();
    const { csrPem } = await generateNodeKeyAndCsr();
    const issued = await signer.sign({ csrPem, nodeId: NODE_ID, role: 'worker', clusterId: CLUSTER_ID });

    scratch = opensslScratch();
    const rootFile = scratch.file('root.pem', root.certPem);
    const nodeFile = scratch.file('node.pem', issued.certChainPem);
    // The clock is fixed in 2030; openssl checks validity at that instant too.
    const at = String(NOW / 1000);
    const verify = scratch.run(
      'verify',
      '-attime',
      at,
      '-CAfile',
      rootFile,
      '-purpose',
      'sslclient',
      nodeFile,
    );
    expect(verify.stderr).toBe('');
    expect(verify.stdout.trim()).toBe(`${nodeFile}: OK`);
    expect(
      scratch.run('verify', '-attime', at, '-CAfile', rootFile, '-purpose', 'sslserver', nodeFile).status,
    ).toBe(0);
    // And openssl refuses it under a different root.
    const stranger = await createRootCa({ clock });
    const refused = scratch.run(
      'verify',
      '-attime',
      at,
      '-CAfile',
      scratch.file('o.pem', stranger.certPem),
      nodeFile,
    );
    expect(refused.status).not.toBe(0);

    const fields = scratch.run(
      'x509',
      '-in',
      nodeFile,
      '-noout',
      '-subject',
      '-enddate',
      '-nameopt',
      'RFC2253',
    );
    expect(fields.status).toBe(0);
    const subject = /subject=(.*)/.exec(fields.stdout)?.[1];
    expect(subject).toBe(`CN=${NODE_ID},OU=swarm-worker,O=${CLUSTER_ID}`);
    const endDate = Date.parse(/notAfter=(.*)/.exec(fields.stdout)?.[1] ?? '');
    expect(endDate - clock.now()).toBe(DEFAULT_CERT_EXPIRY_MS);
    expect(DEFAULT_CERT_EXPIRY_MS).toBe(2160 * 3_600_000);

    expect(issued.identity).toEqual({
      nodeId: NODE_ID,
      role: 'worker',
      clusterId: CLUSTER_ID,
      notBefore: NOW - 3_600_000,
      notAfter: NOW + DEFAULT_CERT_EXPIRY_MS,
    });
    expect(parseNodeCertificate(issued.certChainPem)).toEqual(issued.identity);
  });

  it('gives managers the swarm-manager and swarm-ca names and both TLS usages', async () => {
    const { signer } = await setup();
    const { csrPem } = await generateNodeKeyAndCsr();
    const issued = await signer.sign({ csrPem, nodeId: NODE_ID, role: 'manager', clusterId: CLUSTER_ID });
    const cert = new X509Certificate(issued.certChainPem);
    expect(cert.subjectAltName).toBe(`DNS:swarm-manager, DNS:${NODE_ID}, DNS:swarm-ca`);
    expect(cert.keyUsage?.sort()).toEqual(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
    expect(cert.ca).toBe(false);
    expect(cert.checkHost('swarm-manager')).toBe('swarm-manager');
    scratch = opensslScratch();
    const text = scratch.run(
      'x509',
      '-in',
      scratch.file('m.pem', issued.certChainPem),
      '-noout',
      '-ext',
      'keyUsage',
    );
    expect(text.stdout).toMatch(/Digital Signature, Key Encipherment/);
  });

  it('gives workers no swarm-ca name', async () => {
    const { signer } = await setup();
    const { csrPem } = await generateNodeKeyAndCsr();
    const issued = await signer.sign({ csrPem, nodeId: NODE_ID, role: 'worker', clusterId: CLUSTER_ID });
    expect(new X509Certificate(issued.certChainPem).subjectAltName).toBe(`DNS:swarm-worker, DNS:${NODE_ID}`);
  });

  it('honours a configured expiry and refuses one under an hour, naming the field', async () => {
    const { signer, clock } = await setup({ certExpiryMs: 2 * 3_600_000 });
    const { csrPem } = await generateNodeKeyAndCsr();
    const issued = await signer.sign({ csrPem, nodeId: NODE_ID, role: 'worker', clusterId: CLUSTER_ID });
    expect(issued.identity.notAfter - clock.now()).toBe(2 * 3_600_000);

    await expect(setup({ certExpiryMs: 30 * 60_000 })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      field: 'certExpiryMs',
    });
    expect(() => validateCertExpiry(59 * 60_000, 'cert-expiry')).toThrow(
      /cert-expiry 59m0s: must be at least 1h0m0s/,
    );
  });

  it('refuses a CSR with a bad signature, a weak key or garbage', async () => {
    const { signer } = await setup();
    const { csrPem } = await generateNodeKeyAndCsr();
    const base = { nodeId: NODE_ID, role: 'worker', clusterId: CLUSTER_ID } as const;

    // Flip one byte inside the signature (the DER's last bytes).
    const der = Buffer.from(csrPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    der[der.length - 3]! ^= 0x01;
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    await expect(signer.sign({ ...base, csrPem: tampered })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      field: 'csr',
    });

    scratch = opensslScratch();
    scratch.run('ecparam', '-name', 'secp384r1', '-genkey', '-noout', '-out', 'p384.key');
    const p384 = scratch.run('req', '-new', '-key', 'p384.key', '-subj', '/CN=x');
    expect(p384.status).toBe(0);
    await expect(signer.sign({ ...base, csrPem: p384.stdout })).rejects.toThrow(/secp384r1 is not accepted/);

    scratch.run('genrsa', '-out', 'rsa1024.key', '1024');
    const rsa = scratch.run('req', '-new', '-key', 'rsa1024.key', '-subj', '/CN=x');
    await expect(signer.sign({ ...base, csrPem: rsa.stdout })).rejects.toThrow(/rsa 1024 is not accepted/);

    await expect(signer.sign({ ...base, csrPem: 'not a csr' })).rejects.toMatchObject({ field: 'csr' });
    await expect(signer.sign({ ...base, csrPem, nodeId: 'bad/id' })).rejects.toMatchObject({
      field: 'nodeId',
    });
  });

  it('issued certificates verify against their root in code, and not against another root', async () => {
    const { signer, clock, root } = await setup();
    const other = await createRootCa({ clock });
    const { csrPem } = await generateNodeKeyAndCsr();
    const issued = await signer.sign({ csrPem, nodeId: NODE_ID, role: 'manager', clusterId: CLUSTER_ID });
    expect(
      verifyNodeCertificate({ certChainPem: issued.certChainPem, rootsPem: root.certPem, clock }).role,
    ).toBe('manager');
    expect(() =>
      verifyNodeCertificate({ certChainPem: issued.certChainPem, rootsPem: other.certPem, clock }),
    ).toThrow(expect.objectContaining({ code: 'UNAUTHENTICATED', reason: 'unknown-authority' }));
    expect(
      verifyNodeCertificate({
        certChainPem: issued.certChainPem,
        rootsPem: [other.certPem, root.certPem],
        clock,
      }).nodeId,
    ).toBe(NODE_ID);
    clock.advance(DEFAULT_CERT_EXPIRY_MS + 1000);
    expect(() =>
      verifyNodeCertificate({ certChainPem: issued.certChainPem, rootsPem: root.certPem, clock }),
    ).toThrow(expect.objectContaining({ reason: 'expired' }));
  });
});
