/**
 * npm run bench:mesh [-- --duration 2 --connections 8 --threads 1 --rounds 9 --client-cpu CPU --server-cpu CPU]
 *
 * The routing mesh's cost, on three lab hosts (docs/lab.md) running the kernel data plane alone
 * (scripts/mesh-driver.ts, fed one MeshState): one server container on host 1 on the ingress
 * overlay (swarmctl-test/static:v1, scripts/build-bench-images.sh: one nginx process, keep-alive,
 * a fixed 3-byte answer), published by the mesh on 8080 and by Docker in host mode on 8081. wrk
 * (keep-alive) runs on host 3, against the targets below; --client-cpu / --server-cpu pin wrk and
 * the server to CPUs, the same for every target (default none: pinning did not steady the
 * figures on the shared machine, docs/bench.md):
 *  (a) the container's address directly (over the overlay: the only way to it from host 3),
 *  (b) the published port of its own node (host 1: DNAT to a local backend),
 *  (c) the published port of another node (host 2: DNAT, then VXLAN to host 1),
 *  (d) Docker's host-mode publish of the same container (host 1:8081) as the reference.
 * Requests/s and p99 latency per target, and the ratios to (a). Each round runs the four targets
 * in a rotated order (load on the shared machine drifts within minutes); the table shows each
 * target's median over the rounds, then every round's ratios, the load average, and the
 * conntrack entries on hosts 1 and 2 that show (b) and (c) went through the mesh's DNAT.
 * See docs/bench.md.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { MeshState, NetworkId, NodeId, ServiceId, TaskId } from '../src/api/index.js';
import { waitFor } from '../src/common/index.js';
import { Lab } from '../test/harness/lab.js';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '2' },
    connections: { type: 'string', default: '8' },
    threads: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '9' },
    'client-cpu': { type: 'string', default: '' },
    'server-cpu': { type: 'string', default: '' },
  },
});
const ROOT = resolve(import.meta.dirname, '..');
const ING = 'ingress' as NetworkId;
const NODES = ['bench1', 'bench2', 'bench3'] as NodeId[];
const BACKEND = '10.241.0.11';
const IMAGE = 'swarmctl-test/static:v1';
const clientCpu = values['client-cpu'];
const serverCpu = values['server-cpu'];

function meshState(lab: Lab): MeshState {
  return {
    revision: 1,
    networks: [
      {
        id: ING,
        name: 'ingress',
        vni: 4096,
        subnet: '10.241.0.0/24',
        gateway: '10.241.0.1',
        ingress: true,
        attachable: false,
      },
    ],
    nodes: NODES.map((nodeId, i) => ({
      nodeId,
      addr: lab.host(i + 1).address,
      networkAddrs: [{ networkId: ING, addr: `10.241.0.${2 + i}/24` }],
    })),
    services: [
      {
        id: 'benchweb' as ServiceId,
        name: 'web',
        endpointMode: 'vip',
        vips: [],
        ports: [{ protocol: 'tcp', targetPort: 80, publishedPort: 8080, publishMode: 'ingress' }],
        backends: [
          {
            taskId: 'web1' as TaskId,
            taskName: 'web.1',
            nodeId: NODES[0] as NodeId,
            addrs: [{ networkId: ING, addr: BACKEND }],
          },
        ],
      },
    ],
  };
}

interface Result {
  label: string;
  url: string;
  rps: number;
  p99Ms: number;
  errors: string;
  /** Connections of this run DNATed by the receiving node (mesh targets only). */
  dnated?: number;
}

async function wrk(lab: Lab, label: string, url: string): Promise<Result> {
  const pin = clientCpu ? ['taskset', '-c', clientCpu] : [];
  const r = await lab.exec(
    3,
    [
      ...pin,
      'wrk',
      '-t',
      values.threads,
      '-c',
      values.connections,
      '-d',
      `${values.duration}s`,
      '--latency',
      url,
    ],
    { timeoutMs: 120_000 },
  );
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)?.[1] ?? 'NaN');
  const p99 = /\s99%\s+([\d.]+)(us|ms|s)/.exec(r.stdout);
  const scale = p99?.[2] === 'us' ? 0.001 : p99?.[2] === 's' ? 1000 : 1;
  const errors = /Socket errors:[^\n]*|Non-2xx[^\n]*/.exec(r.stdout)?.[0] ?? '';
  return { label, url, rps, p99Ms: Number(p99?.[1] ?? 'NaN') * scale, errors };
}

/**
 * The client ports of the connections in host n's conntrack table that were sent to its port
 * 8080 and DNATed to the backend: the proof that a target went through the mesh.
 */
async function dnatedPorts(n: number): Promise<Set<string>> {
  const r = await lab.exec(n, ['cat', '/proc/net/nf_conntrack']);
  const ports = new Set<string>();
  for (const l of r.stdout.split('\n')) {
    const m = / sport=(\d+) dport=8080 src=([\d.]+) dst=\S+ sport=80 /.exec(l);
    if (m?.[2] === BACKEND) ports.add(m[1] as string);
  }
  return ports;
}

execFileSync('bash', [join(ROOT, 'scripts/build-bench-images.sh')], { stdio: 'inherit' });
const loadBefore = loadavg();
const lab = await Lab.up({ hosts: 3, prefix: 'swbm', subnet: '10.213.18', images: [IMAGE] });
const dir = mkdtempSync(join(tmpdir(), 'bench-mesh-'));
try {
  const state = meshState(lab);
  for (let n = 1; n <= 3; n++) {
    writeFileSync(join(dir, `state-${n}.json`), JSON.stringify(state));
    lab.startProcess(
      n,
      [
        join(ROOT, 'node_modules/.bin/tsx'),
        join(ROOT, 'scripts/mesh-driver.ts'),
        NODES[n - 1] as string,
        lab.docker(n).host,
        join(dir, `state-${n}.json`),
        join(dir, `status-${n}.json`),
      ],
      { name: 'mesh' },
    );
  }
  await waitFor(
    () => {
      const seen = [1, 2, 3].map((n) => {
        const f = join(dir, `status-${n}.json`);
        return existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')) as { revision: number }).revision : -1;
      });
      return seen.every((r) => r === 1) ? { done: true, value: 0 } : { done: false, state: seen.join(',') };
    },
    { timeoutMs: 30_000, what: 'the data plane on every host' },
  );
  await lab.dockerCli(1, [
    'run',
    '-d',
    '--name',
    'bench-web',
    '--network',
    'swarmctl-ingress',
    '--ip',
    BACKEND,
    '-p',
    '8081:80',
    ...(serverCpu ? ['--cpuset-cpus', serverCpu] : []),
    IMAGE,
  ]);
  const h1 = lab.host(1).address;
  const h2 = lab.host(2).address;
  await waitFor(
    async () => {
      const r = await lab.httpGet(3, `http://${h2}:8080/`);
      return r.ok ? { done: true, value: 0 } : { done: false, state: r.error };
    },
    { timeoutMs: 20_000, what: 'the web container through the mesh' },
  );
  const targets: [string, string, number?][] = [
    ['(a) direct to the container', `http://${BACKEND}/`],
    ['(b) mesh, its own node', `http://${h1}:8080/`, 1],
    ['(c) mesh, another node', `http://${h2}:8080/`, 2],
    ['(d) docker host-mode publish', `http://${h1}:8081/`],
  ];
  const rounds = Math.max(1, Number(values.rounds) || 1);
  const byRound: Result[][] = [];
  for (let round = 0; round < rounds; round++) {
    const got = new Map<string, Result>();
    for (let i = 0; i < targets.length; i++) {
      const [label, url, meshHost] = targets[(i + round) % targets.length] as [string, string, number?];
      const before = meshHost ? await dnatedPorts(meshHost) : new Set<string>();
      const result = await wrk(lab, label, url);
      if (meshHost) {
        const after = await dnatedPorts(meshHost);
        result.dnated = [...after].filter((p) => !before.has(p)).length;
      }
      got.set(label, result);
    }
    byRound.push(targets.map(([label]) => got.get(label) as Result));
  }
  const median = (xs: number[]): number => {
    const s = [...xs].sort((a, b) => a - b);
    const m = Math.floor(s.length / 2);
    return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
  };
  const results: Result[] = targets.map(([label, url], i) => {
    const runs = byRound.map((r) => r[i] as Result);
    return {
      label,
      url,
      rps: median(runs.map((r) => r.rps)),
      p99Ms: median(runs.map((r) => r.p99Ms)),
      errors: runs.map((r) => r.errors).find(Boolean) ?? '',
    };
  });
  const base = results[0] as Result;
  const perRound = byRound.map((r, i) => {
    const a = r[0] as Result;
    const ratio = (x: Result | undefined): string =>
      `${((x?.rps ?? Number.NaN) / a.rps).toFixed(2)}x/${((x?.p99Ms ?? Number.NaN) / a.p99Ms).toFixed(2)}x`;
    return `round ${i + 1}: (a) ${a.rps.toFixed(0)} req/s, p99 ${a.p99Ms.toFixed(2)} ms; (b) ${ratio(r[1])}  (c) ${ratio(r[2])}  (d) ${ratio(r[3])}   (req/s / p99 vs (a))`;
  });
  // Each round's targets run within seconds of each other, so a round's own ratios see the same
  // load: their median drifts less than the ratio of the targets' medians.
  const pairedRatio = (i: number, key: 'rps' | 'p99Ms'): string =>
    median(byRound.map((r) => (r[i] as Result)[key] / (r[0] as Result)[key])).toFixed(2);
  const paired = `median of the rounds' own ratios to (a), req/s / p99: ${[1, 2, 3]
    .map((i) => `${targets[i]?.[0].slice(0, 3)} ${pairedRatio(i, 'rps')}x / ${pairedRatio(i, 'p99Ms')}x`)
    .join('   ')}`;
  const loadAfter = loadavg();
  const kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  const lines = [
    `bench:mesh  wrk -t${values.threads} -c${values.connections} -d${values.duration}s (keep-alive) from lab host 3, ${IMAGE} (one nginx process) on host 1, ${rounds} round(s), medians`,
    `kernel ${kernel}; data plane nftables+vxlan; wrk on CPU ${clientCpu || 'any'}, server on CPU ${serverCpu || 'any'}; load average ${loadBefore.map((l) => l.toFixed(1)).join(' ')} before, ${loadAfter.map((l) => l.toFixed(1)).join(' ')} after`,
    '',
    'target                              req/s    p99 ms   req/s vs (a)   p99 vs (a)',
    ...results.map(
      (r) =>
        `${r.label.padEnd(34)} ${r.rps.toFixed(0).padStart(7)} ${r.p99Ms.toFixed(2).padStart(9)} ${(r.rps / base.rps).toFixed(2).padStart(14)} ${(r.p99Ms / base.p99Ms).toFixed(2).padStart(12)}${r.errors ? `  ${r.errors}` : ''}`,
    ),
    '',
    ...perRound,
    paired,
    '',
    `through the mesh (new connections DNATed to ${BACKEND}:80 in the receiving host's conntrack table, per round; wrk opens -c connections plus one probe): (b) host 1 ${byRound.map((r) => r[1]?.dnated).join(', ')}; (c) host 2 ${byRound.map((r) => r[2]?.dnated).join(', ')}`,
    `Docker Swarm's own routing mesh does not answer on this kernel: it needs IPVS, and ${existsSync('/proc/net/ip_vs') ? '/proc/net/ip_vs exists (check again)' : 'this kernel has no ip_vs (/proc/net/ip_vs is missing)'}, so it has no column here.`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
} finally {
  await lab.teardown();
  rmSync(dir, { recursive: true, force: true });
}
