import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { NodeKeyStore, writeFileAtomic } from '../ca/index.js';
import { CorruptionError, FailedPreconditionError } from '../common/index.js';
import { type DataPlaneChoice, isDataPlaneChoice } from './config.js';

/** What a node remembers about itself between restarts (no secrets: those are in the key file). */
export interface NodeRecord {
  format: 1;
  nodeId: string;
  clusterId: string;
  role: 'manager' | 'worker';
  listenAddr: string;
  advertiseAddr: string;
  availability: 'active' | 'pause' | 'drain';
  /** Managers last known, `host:port`: where a worker (or restarting manager) reaches the cluster. */
  managers: string[];
}

/** The layout of a node's state directory. */
export class StateDir {
  constructor(readonly root: string) {}

  get nodeFile(): string {
    return join(this.root, 'node.json');
  }
  get rootCaFile(): string {
    return join(this.root, 'certificates', 'swarm-root-ca.crt');
  }
  get keyStore(): NodeKeyStore {
    return new NodeKeyStore(join(this.root, 'certificates', 'swarm-node.key.json'));
  }
  get raftDir(): string {
    return join(this.root, 'raft');
  }
  /** The data plane chosen at the first start; kept across leave (a property of the host). */
  get dataPlaneFile(): string {
    return join(this.root, 'data-plane.json');
  }
  get logFile(): string {
    return join(this.root, 'daemon.log');
  }

  async prepare(): Promise<void> {
    await mkdir(join(this.root, 'certificates'), { recursive: true, mode: 0o700 });
  }

  async readNode(): Promise<NodeRecord | undefined> {
    let text: string;
    try {
      text = await readFile(this.nodeFile, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    const v = JSON.parse(text) as Partial<NodeRecord>;
    if (v.format !== 1 || typeof v.nodeId !== 'string' || (v.role !== 'manager' && v.role !== 'worker')) {
      throw new CorruptionError(`${this.nodeFile} is not a swarmctl node record`);
    }
    return v as NodeRecord;
  }

  async writeNode(record: NodeRecord): Promise<void> {
    await writeFileAtomic(this.nodeFile, `${JSON.stringify(record, null, 2)}\n`);
  }

  async readDataPlane(): Promise<DataPlaneChoice | undefined> {
    let text: string;
    try {
      text = await readFile(this.dataPlaneFile, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch {
      v = undefined;
    }
    const record = typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {};
    if (record.format !== 1 || !isDataPlaneChoice(record.dataPlane))
      throw new CorruptionError(`${this.dataPlaneFile} is not a swarmctl data plane record`);
    return record.dataPlane;
  }

  async writeDataPlane(choice: DataPlaneChoice): Promise<void> {
    await mkdir(this.root, { recursive: true, mode: 0o700 });
    await writeFileAtomic(this.dataPlaneFile, `${JSON.stringify({ format: 1, dataPlane: choice })}\n`);
  }

  async readRootCa(): Promise<string> {
    return readFile(this.rootCaFile, 'utf8');
  }

  async writeRootCa(pem: string): Promise<void> {
    await writeFileAtomic(this.rootCaFile, pem);
  }

  /** Refuses to init or join over an existing node. */
  async ensureEmpty(): Promise<void> {
    if (await this.readNode()) {
      throw new FailedPreconditionError(
        `this node is already part of a swarm (${this.nodeFile} exists); use "swarmctl leave" first`,
      );
    }
  }

  /** Removes the Raft log and snapshots (a demoted manager's, or leftovers before a promotion). */
  async wipeRaft(): Promise<void> {
    await rm(this.raftDir, { recursive: true, force: true });
  }

  /** Removes everything a partial init/join or a leave leaves behind. */
  async wipe(): Promise<void> {
    await rm(join(this.root, 'raft'), { recursive: true, force: true });
    await rm(join(this.root, 'certificates'), { recursive: true, force: true });
    await rm(this.nodeFile, { force: true });
  }
}
