/** A load thread (load-threads.ts): opens its own clients, runs its workers on `go`, reports. */
import { parentPort, workerData } from 'node:worker_threads';
import { closedLoop } from './load.js';
import { openTarget } from './load-target.js';
import type { ThreadJob } from './load-threads.js';

const job = workerData as ThreadJob;
const port = parentPort!;
const target = openTarget(job.target);
port.once('message', async () => {
  const result = await closedLoop({ ...job, op: target.op });
  target.close();
  port.postMessage({ kind: 'result', result }, [result.latencies.buffer as ArrayBuffer]);
});
port.postMessage({ kind: 'ready' });
