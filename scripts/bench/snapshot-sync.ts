/**
 * What a large snapshot file does to the WAL saves beside it, for values of `snapshotSyncBytes`.
 * One WalStorage on the real disk saves one small entry after another (write + fdatasync, as a
 * member does at low load) while it writes a snapshot of `--mb` MB every `--every-ms`; rounds of
 * the variants alternate. Prints, per variant, the saves' latency tail and the snapshots' time.
 *
 *   npm run bench:snapshot-sync -- [--mb 35] [--snapshots 6] [--every-ms 500] [--rounds 3] [--sync 0,1048576]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { WalStorage } from '../../src/raft/storage/index.js';
import type { Entry } from '../../src/raft/types.js';

const { values } = parseArgs({
  options: {
    mb: { type: 'string', default: '35' },
    snapshots: { type: 'string', default: '6' },
    'every-ms': { type: 'string', default: '500' },
    rounds: { type: 'string', default: '3' },
    sync: { type: 'string', default: `0,${1024 * 1024}` },
  },
});
const variants = values.sync.split(',').map(Number);
const data = new Uint8Array(Number(values.mb) * 1024 * 1024).map((_, i) => (i * 131) % 251);
const payload = new Uint8Array(300).fill(7);

interface Round {
  saves: number[];
  snapshots: number[];
}

async function round(syncBytes: number): Promise<Round> {
  const dir = mkdtempSync(join(tmpdir(), 'snapshot-sync-'));
  const storage = new WalStorage(dir, {}, { snapshotSyncBytes: syncBytes });
  try {
    await storage.load();
    const saves: number[] = [];
    const snapshots: number[] = [];
    let index = 0;
    let done = false;
    const saving = (async () => {
      while (!done) {
        index++;
        const entry: Entry = { index, term: 1, type: 'normal', data: payload };
        const t0 = performance.now();
        await storage.save({ entries: [entry], hardState: { term: 1, vote: null, commit: index } });
        saves.push(performance.now() - t0);
      }
    })();
    for (let i = 0; i < Number(values.snapshots); i++) {
      await new Promise((r) => setTimeout(r, Number(values['every-ms'])));
      const at = index;
      const t0 = performance.now();
      await storage.saveSnapshot(
        { meta: { index: at, term: 1, conf: { voters: ['n1'], learners: [] } }, data },
        at,
      );
      snapshots.push(performance.now() - t0);
    }
    done = true;
    await saving;
    return { saves, snapshots };
  } finally {
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const results = new Map<number, Round>(variants.map((v) => [v, { saves: [], snapshots: [] }]));
for (let r = 0; r < Number(values.rounds); r++) {
  const order = r % 2 === 0 ? variants : [...variants].reverse();
  for (const v of order) {
    const got = await round(v);
    results.get(v)!.saves.push(...got.saves);
    results.get(v)!.snapshots.push(...got.snapshots);
  }
}

const q = (xs: number[], p: number): string => xs[Math.floor(p * (xs.length - 1))]!.toFixed(2);
for (const [v, { saves, snapshots }] of results) {
  saves.sort((a, b) => a - b);
  snapshots.sort((a, b) => a - b);
  const over = (ms: number): number => saves.filter((x) => x > ms).length;
  console.log(
    `snapshotSyncBytes=${v}: ${saves.length} saves, p50 ${q(saves, 0.5)} p99.9 ${q(saves, 0.999)} max ${q(saves, 1)} ms, ` +
      `>5 ms ${over(5)}, >10 ms ${over(10)}; ${snapshots.length} snapshots, median ${q(snapshots, 0.5)} ms`,
  );
}
