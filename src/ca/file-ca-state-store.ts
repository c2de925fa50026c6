import { randomBytes as cryptoRandomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import {
  CorruptionError,
  Emitter,
  type Event,
  errorMessage,
  InvalidArgumentError,
  NotFoundError,
  SwarmError,
} from '../common/index.js';
import { writeFileAtomic } from './atomic-file.js';
import type { CaState, CaStateStore } from './ca-state.js';
import { isSealedBox, open, SEAL_KEY_BYTES, type SealedBox, seal } from './sealed-box.js';
import type { RandomBytes } from './types.js';

const FORMAT = 'swarmctl-ca-state/1';
const SEAL_INFO = 'swarmctl ca state v1';

interface OnDisk {
  format: typeof FORMAT;
  sealed: SealedBox;
}

export interface FileCaStateStoreDeps {
  /** Encrypts the file (root key, tokens): the node's raft DEK, as raft data will be. */
  dataKey: Uint8Array;
  /** @default crypto.randomBytes */
  randomBytes?: RandomBytes;
}

function checkState(v: unknown, path: string): CaState {
  const s = v as Partial<CaState> | null;
  const ok =
    typeof s === 'object' &&
    s !== null &&
    typeof s.version === 'number' &&
    typeof s.clusterId === 'string' &&
    typeof s.roots?.current?.certPem === 'string' &&
    typeof s.roots.current.keyPem === 'string' &&
    typeof s.joinTokens?.worker === 'string' &&
    typeof s.joinTokens.manager === 'string' &&
    Array.isArray(s.removedNodeIds) &&
    typeof s.certExpiryMs === 'number';
  if (!ok) throw new CorruptionError(`CA state in ${path} is malformed`, { details: { path } });
  return s as CaState;
}

/**
 * CaStateStore in one sealed file (0600, atomic replace), for single-node use and tests until the
 * replicated store takes over. Updates from this process are serialised.
 */
export class FileCaStateStore implements CaStateStore {
  private readonly changed = new Emitter<CaState>();
  readonly onDidChange: Event<CaState> = this.changed.event;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly randomBytes: RandomBytes;

  constructor(
    readonly path: string,
    private readonly deps: FileCaStateStoreDeps,
  ) {
    if (deps.dataKey.length !== SEAL_KEY_BYTES) {
      throw new InvalidArgumentError(
        'dataKey',
        `dataKey must be ${SEAL_KEY_BYTES} bytes, got ${deps.dataKey.length}`,
      );
    }
    this.randomBytes = deps.randomBytes ?? cryptoRandomBytes;
  }

  load(): Promise<CaState | undefined> {
    return this.serial(() => this.read());
  }

  create(state: CaState): Promise<CaState> {
    return this.serial(async () => {
      if (await this.read())
        throw new SwarmError('ALREADY_EXISTS', `CA state already exists in ${this.path}`);
      const stored = { ...state, version: 1 };
      await this.write(stored);
      return stored;
    });
  }

  update(mutate: (state: CaState) => CaState | Promise<CaState>): Promise<CaState> {
    return this.serial(async () => {
      const current = await this.read();
      if (!current) throw new NotFoundError('CA state', this.path);
      const next = { ...(await mutate(current)), version: current.version + 1 };
      await this.write(next);
      return next;
    });
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => {});
    return run;
  }

  private async read(): Promise<CaState | undefined> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new SwarmError('IO', `cannot read ${this.path}: ${errorMessage(e)}`, { cause: e });
    }
    let disk: Partial<OnDisk>;
    try {
      disk = JSON.parse(text) as Partial<OnDisk>;
    } catch (e) {
      throw new CorruptionError(`CA state file ${this.path} is not JSON`, { cause: e });
    }
    if (disk.format !== FORMAT || !isSealedBox(disk.sealed)) {
      throw new CorruptionError(`${this.path} is not a ${FORMAT} file`, { details: { path: this.path } });
    }
    const plain = open(this.deps.dataKey, disk.sealed, { info: SEAL_INFO, aad: FORMAT });
    if (!plain) {
      throw new CorruptionError(`CA state in ${this.path} does not decrypt with this node's data key`, {
        details: { path: this.path },
      });
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(plain.toString('utf8'));
    } catch (e) {
      throw new CorruptionError(`CA state in ${this.path} is not JSON`, { cause: e });
    }
    return checkState(parsed, this.path);
  }

  private async write(state: CaState): Promise<void> {
    const plain = Buffer.from(JSON.stringify(state), 'utf8');
    const disk: OnDisk = {
      format: FORMAT,
      sealed: seal(this.deps.dataKey, plain, { info: SEAL_INFO, aad: FORMAT }, this.randomBytes),
    };
    plain.fill(0);
    await writeFileAtomic(this.path, `${JSON.stringify(disk)}\n`);
    this.changed.fire(state);
  }
}
