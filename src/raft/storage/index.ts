export type { AesGcmCipherOptions, Cipher, CipherKey } from './cipher.js';
export { AesGcmCipher } from './cipher.js';
export { StorageIoError } from './errors.js';
export type { OpenMode, StorageFile, StorageFs } from './fs.js';
export { NodeStorageFs } from './fs.js';
export type { CrashOptions, FaultOp, SimFsOptions, UnsyncedWriteFate } from './sim-fs.js';
export { SimFs } from './sim-fs.js';
export type { ResolvedWalStorageOptions, WalStorageDeps, WalStorageOptions } from './wal-storage.js';
export {
  DEFAULT_RETAIN_SNAPSHOTS,
  DEFAULT_SEGMENT_BYTES,
  resolveWalStorageOptions,
  WalStorage,
} from './wal-storage.js';
