/**
 * Runs the kernel data plane alone on one lab host (inside its network namespace), fed a
 * hand-made MeshState from a file: for the mesh lab test and bench:mesh, without managers.
 *
 *   tsx scripts/mesh-driver.ts NODE_ID DOCKER_HOST STATE_FILE STATUS_FILE
 *
 * Reads STATE_FILE whenever it changes and writes `{"revision":N}` to STATUS_FILE after each
 * convergence; SIGTERM tears everything of ours down, then exits.
 */
import { readFileSync, unwatchFile, watchFile, writeFileSync } from 'node:fs';
import Dockerode from 'dockerode';
import type { MeshState, NodeId } from '../src/api/index.js';
import { createLogger, humanSink } from '../src/common/index.js';
import { dockerNetworkEngine, KernelDataPlane, systemCommandRunner } from '../src/routing-mesh/index.js';

const [nodeId, dockerHost, stateFile, statusFile] = process.argv.slice(2);
if (!nodeId || !dockerHost || !stateFile || !statusFile) {
  process.stderr.write('usage: mesh-driver NODE_ID DOCKER_HOST STATE_FILE STATUS_FILE\n');
  process.exit(2);
}
const logger = createLogger(
  humanSink((l) => process.stderr.write(`${l}\n`)),
  { level: 'debug' },
);
const dp = new KernelDataPlane({
  nodeId: nodeId as NodeId,
  run: systemCommandRunner,
  engine: dockerNetworkEngine(new Dockerode({ socketPath: dockerHost.replace(/^unix:\/\//, '') })),
  logger,
  // Set to try keeping the client address for remote backends (docs/routing-mesh.md).
  ...(process.env.MESH_KEEP_SOURCE_IP === '1' && { keepSourceIp: true }),
});
const load = (): void => {
  try {
    dp.update(JSON.parse(readFileSync(stateFile, 'utf8')) as MeshState);
  } catch {
    // Half-written: the next change event brings the rest.
  }
};
dp.onDidConverge(() => writeFileSync(statusFile, JSON.stringify({ revision: dp.revision, plan: dp.plan })));
watchFile(stateFile, { interval: 50 }, load);
load();
const ac = new AbortController();
process.on('SIGTERM', () => ac.abort());
process.on('SIGINT', () => ac.abort());
await dp.run(ac.signal);
unwatchFile(stateFile);
writeFileSync(statusFile, JSON.stringify({ revision: -2 }));
