import { SwarmError } from '../../common/index.js';
import { type CommandRunner, systemCommandRunner } from '../data-plane/command-runner.js';
import type { ConntrackPurger } from './purge.js';

/**
 * ctnetlink by hand, for python3: dumps the IPv4 conntrack table, then deletes each TCP entry
 * whose reply comes from one of the addresses given as arguments, by its REPLY tuple alone (plus
 * its zone). The kernel looks an entry up by its original tuple whenever a delete carries one
 * (conntrack-tools and Docker send both), and a client that reuses its port meanwhile has put a
 * new, live entry under that original tuple; a reply tuple names the stopping backend, which no
 * new connection reaches. Prints the number deleted. Node has no netlink sockets, hence python.
 * Modes: `--purge ADDR…` (dump, then delete); `--dump ADDR…` and `--delete HEX…` split the two
 * steps, so that a test can replace an entry in between.
 */
const SCRIPT = String.raw`
import socket, struct, sys
mode = sys.argv[1]
want = {socket.inet_aton(a) for a in sys.argv[2:]} if mode != '--delete' else set()
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
s.bind((0, 0))
NFGEN = struct.pack('=BBH', socket.AF_INET, 0, 0)
def msg(kind, flags, seq, body):
    return struct.pack('=IHHII', 16 + len(body), kind, flags, seq, 0) + body
def chunks(b, head):
    # Netlink messages (16-byte header) and attributes (4-byte header) share one layout: length,
    # type, payload, padded to 4 bytes.
    fmt = '=IH' if head == 16 else '=HH'
    i = 0
    while i + head <= len(b):
        n, t = struct.unpack_from(fmt, b, i)
        if n < head:
            return
        yield t & 0x3fff, b[i + head:i + n], b[i:i + n]
        i += (n + 3) & ~3
def fail(what, err):
    sys.stderr.write('%s: errno %d\n' % (what, -err))
    sys.exit(1)
victims, done = [], mode == '--delete'
if done:
    victims = [bytes.fromhex(h) for h in sys.argv[2:]]
else:
    s.send(msg(0x101, 0x301, 1, NFGEN))
while not done:
    for t, body, _ in chunks(s.recv(1 << 20), 16):
        if t == 3:
            done = True
        elif t == 2:
            err = struct.unpack_from('=i', body)[0]
            if err:
                fail('conntrack dump', err)
            done = True
        else:
            reply = zone = src = None
            tcp = False
            for a, v, raw in chunks(body[4:], 4):
                if a == 2:
                    reply = raw
                    for a2, v2, _ in chunks(v, 4):
                        for a3, v3, _ in chunks(v2, 4):
                            if a2 == 1 and a3 == 1:
                                src = v3
                            if a2 == 2 and a3 == 1 and v3[:1] == b'\x06':
                                tcp = True
                elif a == 18:
                    zone = raw
            if reply is not None and tcp and src in want:
                victims.append(reply + (zone or b''))
if mode == '--dump':
    print(' '.join(v.hex() for v in victims))
    sys.exit(0)
deleted, seq = 0, 1
for k in range(0, len(victims), 64):
    batch = victims[k:k + 64]
    out = b''
    for body in batch:
        seq += 1
        out += msg(0x102, 0x5, seq, NFGEN + body)
    s.send(out)
    acks = 0
    while acks < len(batch):
        for t, body, _ in chunks(s.recv(1 << 16), 16):
            if t != 2:
                continue
            acks += 1
            err = struct.unpack_from('=i', body)[0]
            if err == 0:
                deleted += 1
            elif err != -2:
                fail('conntrack delete', err)
print(deleted)
`;

/**
 * The exact purger: deletes by reply tuple through ctnetlink (python3). `available: false` when
 * python3 is not installed; the caller then falls back to conntrack-tools.
 */
export function netlinkPurger(run: CommandRunner = systemCommandRunner): ConntrackPurger {
  return async (addresses) => {
    if (addresses.length === 0) return { deleted: 0, available: true };
    const r = await run(['python3', '-c', SCRIPT, '--purge', ...addresses]);
    if (r.code === 127) return { deleted: 0, available: false };
    const deleted = Number(r.stdout.trim());
    if (r.code !== 0 || !Number.isInteger(deleted)) {
      throw new SwarmError(
        'IO',
        `conntrack purge of ${addresses.join(', ')} failed (exit ${r.code}): ${r.stderr.trim()}`,
        {
          details: { addresses: addresses.join(','), exitCode: r.code },
        },
      );
    }
    return { deleted, available: true };
  };
}

/** The script's two steps apart (tests): the reply tuples a purge would delete, as hex. */
export async function netlinkDump(run: CommandRunner, addresses: readonly string[]): Promise<string[]> {
  const r = await run(['python3', '-c', SCRIPT, '--dump', ...addresses]);
  if (r.code !== 0) throw new SwarmError('IO', `conntrack dump failed (exit ${r.code}): ${r.stderr.trim()}`);
  return r.stdout
    .trim()
    .split(/\s+/)
    .filter((h) => h.length > 0);
}

/** Deletes the entries of reply tuples `netlinkDump` returned; the number deleted (tests). */
export async function netlinkDelete(run: CommandRunner, victims: readonly string[]): Promise<number> {
  const r = await run(['python3', '-c', SCRIPT, '--delete', ...victims]);
  if (r.code !== 0)
    throw new SwarmError('IO', `conntrack delete failed (exit ${r.code}): ${r.stderr.trim()}`);
  return Number(r.stdout.trim());
}
