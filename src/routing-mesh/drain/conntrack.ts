import { readFile } from 'node:fs/promises';

/** One TCP entry of the conntrack table: its state and both directions' addresses. */
export interface ConntrackTcpEntry {
  readonly state: string;
  /** The original direction (client → address it dialled). */
  readonly origSrc: string;
  readonly origDst: string;
  /** The reply direction: after a DNAT, `replySrc` is the backend the connection went to. */
  readonly replySrc: string;
  readonly replyDst: string;
}

/** States in which a connection may still carry a request: the drain waits for them. */
export const LIVE_TCP_STATES: ReadonlySet<string> = new Set(['SYN_SENT', 'SYN_RECV', 'ESTABLISHED']);

/**
 * The TCP entries of `/proc/net/nf_conntrack` text, e.g.
 * `ipv4 2 tcp 6 431999 ESTABLISHED src=A dst=B sport=… dport=… src=C dst=D … [ASSURED] …`.
 * Other protocols and lines that do not have both tuples are skipped.
 */
export function parseConntrack(text: string): ConntrackTcpEntry[] {
  const out: ConntrackTcpEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    // f[0] family, f[1] its number, f[2] protocol, f[3] its number, f[4] timeout, f[5] state.
    if (f[2] !== 'tcp' || f.length < 6) continue;
    const src: string[] = [];
    const dst: string[] = [];
    for (const w of f) {
      if (w.startsWith('src=')) src.push(w.slice(4));
      else if (w.startsWith('dst=')) dst.push(w.slice(4));
    }
    const [origSrc, replySrc] = src;
    const [origDst, replyDst] = dst;
    if (!origSrc || !origDst || !replySrc || !replyDst) continue;
    out.push({ state: f[5] ?? '', origSrc, origDst, replySrc, replyDst });
  }
  return out;
}

/**
 * Live connections towards one of `addresses`: dialled to it directly (bridged in from another
 * node, or from a container) or DNATed to it by this node (it is then the reply's source).
 */
export function liveConnectionsTo(
  entries: readonly ConntrackTcpEntry[],
  addresses: ReadonlySet<string>,
): ConntrackTcpEntry[] {
  return entries.filter(
    (e) => LIVE_TCP_STATES.has(e.state) && (addresses.has(e.origDst) || addresses.has(e.replySrc)),
  );
}

/** Reads the conntrack table as text; undefined when there is none to read. */
export type ConntrackReader = () => Promise<string | undefined>;

/**
 * The table of the network namespace this process runs in (`/proc/self/net` is per namespace).
 * Absent (module not loaded) or unreadable (not root): undefined, and the drain does not wait.
 */
export const procConntrackReader: ConntrackReader = async () => {
  try {
    return await readFile('/proc/self/net/nf_conntrack', 'utf8');
  } catch {
    return undefined;
  }
};
