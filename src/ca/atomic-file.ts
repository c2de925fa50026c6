import { randomBytes } from 'node:crypto';
import { chmod, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { errorMessage, SwarmError } from '../common/index.js';

/** Owner read/write only: every key and state file the CA writes. */
export const SECRET_FILE_MODE = 0o600;

/**
 * Replaces `path` with `data` so that a crash leaves either the old or the new content, never a
 * mix: write a temporary file beside it (created with `mode`), fsync it, rename it over the
 * target, then fsync the directory so the rename itself is durable.
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  mode = SECRET_FILE_MODE,
): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  let renamed = false;
  try {
    const fh = await open(tmp, 'wx', mode);
    try {
      await fh.writeFile(data);
      // The process umask may have narrowed `mode` at creation; never widened, but be exact.
      await chmod(tmp, mode);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
    renamed = true;
    const dh = await open(dir, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  } catch (e) {
    if (!renamed) await unlink(tmp).catch(() => {});
    throw new SwarmError('IO', `cannot write ${path}: ${errorMessage(e)}`, { cause: e, details: { path } });
  }
}
