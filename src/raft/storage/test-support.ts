/** Helpers shared by the storage tests. Not exported from the module. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Entry, Snapshot } from '../types.js';

export function entry(
  index: number,
  term: number,
  data: Uint8Array = new TextEncoder().encode(`e${index}t${term}`),
): Entry {
  return { index, term, type: 'normal', data };
}

export function entryRange(from: number, to: number, term: number): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push(entry(i, term));
  return out;
}

export function snapshot(
  index: number,
  term: number,
  data: Uint8Array = new TextEncoder().encode(`state@${index}`),
): Snapshot {
  return { meta: { index, term, conf: { voters: ['n1', 'n2', 'n3'], learners: ['n4'] } }, data };
}

/** "index/term" labels: compact to compare and readable in a failure diff. */
export function labels(entries: readonly Entry[]): string[] {
  return entries.map((e) => `${e.index}/${e.term}`);
}

export interface TempDir {
  readonly path: string;
  remove(): Promise<void>;
}

export async function tempDir(): Promise<TempDir> {
  const path = await mkdtemp(join(tmpdir(), 'swarmctl-wal-'));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}
