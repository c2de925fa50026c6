import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NodeStorageFs } from './fs.js';
import type { TempDir } from './test-support.js';
import { tempDir } from './test-support.js';

let tmp: TempDir;
beforeEach(async () => {
  tmp = await tempDir();
});
afterEach(async () => {
  await tmp.remove();
});

describe('NodeStorageFs files', () => {
  it('makes small batches (fdatasync on the loop thread) and large ones (thread pool) readable in order', async () => {
    const fs = new NodeStorageFs();
    const path = join(tmp.path, 'seg');
    const f = await fs.open(path, 'create');
    const small = Buffer.alloc(300, 1);
    const large = Buffer.alloc(64 * 1024, 2);
    await f.write(small, 0);
    await f.datasync();
    await f.write(large, small.length);
    await f.datasync();
    await f.write(small, small.length + large.length);
    await f.datasync();
    await f.close();
    expect(Buffer.compare(await readFile(path), Buffer.concat([small, large, small]))).toBe(0);
  });

  it('rejects a small batch fdatasync that fails, as the thread pool path does', async () => {
    const fs = new NodeStorageFs();
    const f = await fs.open(join(tmp.path, 'seg'), 'create');
    await f.write(Buffer.alloc(10), 0);
    await f.close();
    // The descriptor is gone: the fdatasync on the loop thread throws, and the promise rejects.
    await expect(f.datasync()).rejects.toThrow(/fd/);
  });
});
