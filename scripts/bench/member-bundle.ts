/**
 * The raft-kv member compiled as the product is (scripts/bundle-options.mjs), for benchmarks:
 * tsx compiles with `keepNames`, which costs a member about 7 % of its CPU per write.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { RaftKvCluster } from '../../test/harness/raft-kv/cluster.js';
import { codeOptions } from '../bundle-options.mjs';

/** Bundles test/harness/raft-kv/node.ts into `dir` and returns the file to run with plain node. */
export async function bundleRaftKvMember(dir: string): Promise<string> {
  const outfile = join(dir, 'raft-kv-member.mjs');
  await build({
    ...codeOptions,
    entryPoints: [join(import.meta.dirname, '../../test/harness/raft-kv/node.ts')],
    outfile,
    format: 'esm',
    // Bundled CommonJS dependencies (grpc-js) call require for Node's own modules.
    banner: {
      js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
    },
  });
  return outfile;
}

/** Three members bundled as bench:raft runs them, in `dir`/swarmctl (their logs too); not started. */
export async function bundledMembers(
  dir: string,
  o: { basePort: number; env?: Readonly<Record<string, string>> },
): Promise<RaftKvCluster> {
  mkdirSync(join(dir, 'swarmctl'));
  return new RaftKvCluster({
    dir: join(dir, 'swarmctl'),
    entry: await bundleRaftKvMember(dir),
    size: 3,
    basePort: o.basePort,
    ...(o.env ? { env: o.env } : {}),
  });
}
