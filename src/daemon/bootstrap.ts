import {
  type ClusterId,
  DEFAULT_CLUSTER_SPEC,
  type DefaultAddressPool,
  generateId,
  type NodeId,
} from '../api/index.js';
import {
  createSignerForState,
  generateDek,
  generateNodeKeyAndCsr,
  initialCaState,
  joinWithToken,
  type RandomBytes,
  servedRootPem,
} from '../ca/index.js';
import type { Clock } from '../common/index.js';
import type { ClusterSeed } from '../manager/index.js';
import { type DaemonConfig, requireAdvertiseAddr } from './config.js';
import { caClient, defaultHostname, keyFileLock } from './identity.js';
import type { NodeRecord, StateDir } from './state-dir.js';

export interface InitOptions {
  autolock: boolean;
  certExpiryMs?: number;
  /** Where networks without `--subnet` get theirs (`init --default-addr-pool`). */
  defaultAddrPool?: DefaultAddressPool;
}

/**
 * A new cluster: CA, this node's manager certificate and key file. Returns the seed the manager
 * writes into Raft once it leads, and the node record to store once that happened (the record is
 * what marks the state directory as initialised).
 */
export async function initIdentity(
  deps: { clock: Clock; randomBytes: RandomBytes },
  config: DaemonConfig,
  dir: StateDir,
  options: InitOptions,
): Promise<{ seed: ClusterSeed; record: NodeRecord; dek: Uint8Array }> {
  requireAdvertiseAddr(config);
  await dir.ensureEmpty();
  await dir.wipe();
  await dir.prepare();
  const clusterId = generateId<ClusterId>(deps.randomBytes);
  const nodeId = generateId<NodeId>(deps.randomBytes);
  const ca = await initialCaState(deps, {
    clusterId,
    autolock: options.autolock,
    ...(options.certExpiryMs !== undefined ? { certExpiryMs: options.certExpiryMs } : {}),
    ...(config.caLimits ? { limits: config.caLimits } : {}),
  });
  const { keyPem, csrPem } = await generateNodeKeyAndCsr();
  const signer = await createSignerForState(ca, deps, config.caLimits ?? {});
  const issued = await signer.sign({ csrPem, nodeId, role: 'manager', clusterId });
  const dek = generateDek(deps.randomBytes);
  await dir.writeRootCa(servedRootPem(ca.roots));
  await dir.keyStore.write(
    { certChainPem: issued.certChainPem, secrets: { tlsKeyPem: keyPem, dek } },
    keyFileLock(ca),
  );
  const seed: ClusterSeed = {
    ca,
    cluster: {
      id: clusterId,
      spec: {
        ...DEFAULT_CLUSTER_SPEC,
        caConfig: { nodeCertExpiryMs: ca.certExpiryMs },
        encryption: { autoLockManagers: options.autolock },
        ...(options.defaultAddrPool ? { defaultAddrPool: options.defaultAddrPool } : {}),
      },
      status: {},
    },
    self: {
      id: nodeId,
      spec: { desiredRole: 'manager', availability: config.availability },
      role: 'manager',
      status: { state: 'ready' },
      description: {
        hostname: defaultHostname(),
        platform: { os: process.platform, architecture: process.arch },
        resources: { nanoCPUs: 0, memoryBytes: 0 },
        engine: { version: '' },
      },
      managerStatus: { raftId: nodeId, addr: config.advertiseAddr, leader: true, reachability: 'reachable' },
    },
  };
  const record: NodeRecord = {
    format: 1,
    nodeId,
    clusterId,
    role: 'manager',
    listenAddr: config.listenAddr,
    advertiseAddr: config.advertiseAddr,
    availability: config.availability,
    managers: [config.advertiseAddr],
  };
  return { seed, record, dek };
}

/**
 * Joins through `remote` with a token: the root is checked against the token before the secret
 * is sent; nothing is written until the certificate is in hand.
 */
export async function joinIdentity(
  deps: { clock: Clock; randomBytes: RandomBytes },
  config: DaemonConfig,
  dir: StateDir,
  join: { token: string; remote: string },
  signal: AbortSignal,
): Promise<{ record: NodeRecord; dek: Uint8Array | undefined }> {
  requireAdvertiseAddr(config);
  await dir.ensureEmpty();
  let issuedTo: { nodeId: string; managers: string[] } | undefined;
  // joinWithToken verifies the fetched root against the token before it asks for a certificate.
  let fetchedRoot = '';
  const result = await joinWithToken(
    { token: join.token, clock: deps.clock },
    {
      fetchRootCa: async (s) => {
        const c = caClient(join.remote, 'unverified');
        try {
          fetchedRoot = (
            await c.call.GetRootCACertificate({}, { timeoutMs: 10_000, ...(s ? { signal: s } : {}) })
          ).rootCaPem;
          return fetchedRoot;
        } finally {
          c.close();
        }
      },
      requestCertificate: async (req, s) => {
        const c = caClient(join.remote, { ca: fetchedRoot });
        try {
          const res = await c.call.IssueNodeCertificate(
            {
              token: req.token,
              csrPem: req.csrPem,
              advertiseAddr: config.advertiseAddr,
              hostname: defaultHostname(),
              availability: config.availability,
            },
            { timeoutMs: 20_000, ...(s ? { signal: s } : {}) },
          );
          issuedTo = { nodeId: res.nodeId, managers: res.managers };
          return res.certChainPem;
        } finally {
          c.close();
        }
      },
    },
    signal,
  );
  const identity = result.credentials.identity;
  await dir.wipe();
  await dir.prepare();
  const dek = identity.role === 'manager' ? generateDek(deps.randomBytes) : undefined;
  await dir.writeRootCa(result.rootCaPem);
  await dir.keyStore.write({
    certChainPem: result.credentials.certChainPem,
    secrets: { tlsKeyPem: result.credentials.keyPem, ...(dek ? { dek } : {}) },
  });
  const record: NodeRecord = {
    format: 1,
    nodeId: identity.nodeId,
    clusterId: identity.clusterId,
    role: identity.role,
    listenAddr: config.listenAddr,
    advertiseAddr: config.advertiseAddr,
    availability: config.availability,
    managers: issuedTo?.managers.length ? issuedTo.managers : [join.remote],
  };
  return { record, dek };
}
