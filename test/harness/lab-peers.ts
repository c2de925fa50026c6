/**
 * Peers for the mesh lab tests: the test images neither serve UDP nor report the client's address,
 * so a small node server runs in a container's network namespace (TCP 9000 and a UDP port, both
 * answering "<label> <peer address>"), and a small client sends requests from a lab host or the
 * lab's root namespace (the lab bridge's address), one reply per line.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { Lab } from './lab.js';
import { LAB_ENV_MARKER } from './lab-layout.js';
import { runCommand } from './run-command.js';

/** argv: label, UDP port. TCP 9000 replies "<label> <peer>"; UDP "<label> <peer> <message>". */
const PEER_SERVER = `
const net = require('node:net'); const dgram = require('node:dgram'); const label = process.argv[1];
net.createServer((s) => s.end(label + ' ' + s.remoteAddress + '\\n')).listen(9000, '0.0.0.0');
const u = dgram.createSocket('udp4'); u.on('message', (m, r) => u.send(label + ' ' + r.address + ' ' + m, r.port, r.address)); u.bind(Number(process.argv[2]));
`;

/**
 * argv: proto, host, port, count, per-request deadline in ms, source port (0: any); prints one
 * reply per line ("error …" for a failure). The UDP socket is connected, as most clients' are: a
 * reply from any other address or port than the one asked is dropped, so it counts as lost.
 */
const CLIENT = `
const net = require('node:net'); const dgram = require('node:dgram');
const [proto, host, port, count, ms, from] = [process.argv[1], process.argv[2], Number(process.argv[3]), Number(process.argv[4]), Number(process.argv[5]), Number(process.argv[6])];
function tcp() { return new Promise((res) => { let d = ''; const s = net.connect(port, host); s.setTimeout(ms, () => { s.destroy(); res('error timeout'); }); // hygiene-ok: a per-request deadline of the client, not a wait
  s.on('data', (x) => { d += x; }); s.on('end', () => res(d.trim())); s.on('error', (e) => res('error ' + e.code)); }); }
function udp() { return new Promise((res) => { const u = dgram.createSocket({ type: 'udp4', reuseAddr: true }); const t = setTimeout(() => { u.close(); res('error timeout'); }, ms); // hygiene-ok: a UDP reply deadline of the client, not a wait
  u.on('message', (m) => { clearTimeout(t); u.close(); res(String(m).trim()); }); u.on('error', (e) => { clearTimeout(t); u.close(); res('error ' + e.code); });
  u.bind(from, () => u.connect(port, host, () => u.send('ping'))); }); }
(async () => { for (let i = 0; i < count; i++) console.log(await (proto === 'udp' ? udp() : tcp())); })();
`;

/** The pid of container `ref` on host n (to enter its network namespace). */
export async function containerPid(lab: Lab, n: number, ref: string): Promise<string> {
  return (await lab.dockerCli(n, ['inspect', '-f', '{{.State.Pid}}', ref])).stdout.trim();
}

/** Starts the peer server in the network namespace of the process `pid`; the caller kills it. */
export function startPeerServer(lab: Lab, pid: string, label: string, udpPort: number): ChildProcess {
  return spawn(
    'nsenter',
    [`--net=/proc/${pid}/ns/net`, '--', process.execPath, '-e', PEER_SERVER, label, String(udpPort)],
    { stdio: 'ignore', env: { ...process.env, [LAB_ENV_MARKER]: lab.layout.prefix } },
  );
}

export interface PeerRequests {
  proto: 'tcp' | 'udp';
  target: string;
  port: number;
  count: number;
  /** Each request's deadline. @default 2_000 */
  deadlineMs?: number;
  /** UDP: the client's source port for every request (0: a new one each). @default 0 */
  sourcePort?: number;
}

/** `count` requests from lab host `from`, or from the root namespace when 0; one reply per line. */
export async function peerRequests(lab: Lab, from: number, req: PeerRequests): Promise<string[]> {
  const argv = [
    process.execPath,
    '-e',
    CLIENT,
    req.proto,
    req.target,
    String(req.port),
    String(req.count),
    String(req.deadlineMs ?? 2_000),
    String(req.sourcePort ?? 0),
  ];
  const r =
    from === 0
      ? await runCommand(argv, { timeoutMs: 60_000 })
      : await lab.exec(from, argv, { timeoutMs: 60_000 });
  return r.stdout.trim().split('\n');
}

/** The value of the first `key` found anywhere in `v` (a depth-first search of parsed JSON). */
export function findKey(v: unknown, key: string): unknown {
  if (v === null || typeof v !== 'object') return undefined;
  if (key in v) return (v as Record<string, unknown>)[key];
  for (const x of Object.values(v)) {
    const found = findKey(x, key);
    if (found !== undefined) return found;
  }
  return undefined;
}
