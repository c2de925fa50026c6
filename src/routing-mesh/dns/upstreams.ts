import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import type { Clock } from '../../common/index.js';

/** A resolver queries are forwarded to. */
export interface Upstream {
  readonly host: string;
  readonly port: number;
}

/** Where forwarded queries go: asked on every forward, so it may change while the server runs. */
export type UpstreamSource = () => Promise<readonly Upstream[]>;

/** glibc reads at most three nameserver lines; so do we. */
export const MAX_UPSTREAMS = 3;
const RESOLV_CONF_CACHE_MS = 5_000;

/** The `nameserver` lines of a resolv.conf text, in order, without scope ids. */
export function parseResolvConf(text: string): Upstream[] {
  const out: Upstream[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (!m) continue;
    const host = m[1]!.split('%')[0]!;
    if (isIP(host) !== 0) out.push({ host, port: 53 });
  }
  return out.slice(0, MAX_UPSTREAMS);
}

/**
 * The node namespace's resolvers from `path`, re-read at most every 5 s so an edited
 * resolv.conf (DHCP, systemd-resolved) is followed without a restart. A missing file means none.
 */
export function resolvConfUpstreams(clock: Clock, path = '/etc/resolv.conf'): UpstreamSource {
  let cached: { at: number; value: readonly Upstream[] } | undefined;
  return async () => {
    const now = clock.monotonic();
    if (cached && now - cached.at < RESOLV_CONF_CACHE_MS) return cached.value;
    let value: readonly Upstream[] = [];
    try {
      value = parseResolvConf(await readFile(path, 'utf8'));
    } catch {
      value = [];
    }
    cached = { at: now, value };
    return value;
  };
}
