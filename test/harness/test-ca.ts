// Test support only: real X.509 material made with Debian's openssl, so the RPC layer's tests use
// genuine mutual TLS without depending on the CA module.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCa {
  rootPem: string;
  issue(subject: { nodeId: string; role: string; clusterId: string }): { cert: string; key: string };
  dispose(): void;
}

export function createTestCa(name = 'test-root'): TestCa {
  const dir = mkdtempSync(join(tmpdir(), 'rpc-ca-'));
  const ssl = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  };
  ssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'root.key');
  ssl('req', '-x509', '-new', '-key', 'root.key', '-subj', `/CN=${name}`, '-days', '30', '-out', 'root.pem');
  let n = 0;
  return {
    rootPem: readFileSync(join(dir, 'root.pem'), 'utf8'),
    issue({ nodeId, role, clusterId }) {
      const id = `n${n++}`;
      ssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${id}.key`);
      ssl(
        'req',
        '-new',
        '-key',
        `${id}.key`,
        '-subj',
        `/O=${clusterId}/OU=${role}/CN=${nodeId}`,
        '-out',
        `${id}.csr`,
      );
      writeFileSync(
        join(dir, `${id}.ext`),
        'subjectAltName=DNS:swarm-manager,DNS:swarm-ca\nextendedKeyUsage=serverAuth,clientAuth\n',
      );
      ssl(
        'x509',
        '-req',
        '-in',
        `${id}.csr`,
        '-CA',
        'root.pem',
        '-CAkey',
        'root.key',
        '-CAcreateserial',
        '-days',
        '30',
        '-extfile',
        `${id}.ext`,
        '-out',
        `${id}.pem`,
      );
      // Node's TLS wants PKCS#8 or SEC1; openssl's EC key is SEC1 PEM, which it accepts.
      return {
        cert: readFileSync(join(dir, `${id}.pem`), 'utf8'),
        key: readFileSync(join(dir, `${id}.key`), 'utf8'),
      };
    },
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}
