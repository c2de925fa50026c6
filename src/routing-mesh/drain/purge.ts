import { SwarmError } from '../../common/index.js';
import { type CommandRunner, systemCommandRunner } from '../data-plane/command-runner.js';

export interface PurgeResult {
  /** Entries deleted over all addresses. */
  readonly deleted: number;
  /** False when the purger's tool (python3, conntrack) is not installed: nothing was deleted. */
  readonly available: boolean;
}

/**
 * Deletes this node's TCP conntrack entries whose reply comes from one of `addresses` (connections
 * DNATed to a stopping backend, or dialled to it), right before its container is stopped.
 *
 * Why: when a container leaves a bridge network, Docker deletes every conntrack entry of its
 * address, and it does so by each entry's original tuple, a second or so after dumping the table.
 * A client that meanwhile reuses its port towards the same published port reopens the entry's
 * TIME_WAIT (the kernel replaces it with a new entry, same original tuple, DNATed to a backend
 * still in rotation): Docker's delete then kills that live connection, and the client sees a reset
 * or a timeout. Once we have deleted the entries, Docker's dump finds none. Our own delete must
 * not repeat Docker's race: netlinkPurger deletes by reply tuple; conntrackCliPurger, the
 * fallback, by original tuple entry by entry as it reads the dump (a window of milliseconds).
 */
export type ConntrackPurger = (addresses: readonly string[]) => Promise<PurgeResult>;

/** The purger over conntrack-tools' `conntrack -D`, in this process's network namespace. */
export function conntrackCliPurger(run: CommandRunner = systemCommandRunner): ConntrackPurger {
  return async (addresses) => {
    let deleted = 0;
    for (const addr of addresses) {
      const r = await run(['conntrack', '-D', '-p', 'tcp', '--reply-src', addr]);
      // conntrack exits 1 when it deleted nothing; its count is on stderr either way.
      const m = /(\d+) flow entries have been deleted/.exec(r.stderr);
      if (m) {
        deleted += Number(m[1]);
        continue;
      }
      if (r.code === 127) return { deleted, available: false };
      throw new SwarmError(
        'IO',
        `conntrack -D --reply-src ${addr} failed (exit ${r.code}): ${r.stderr.trim()}`,
        {
          details: { address: addr, exitCode: r.code },
        },
      );
    }
    return { deleted, available: true };
  };
}

/**
 * The first of `purgers` whose tool is installed: the exact one (python3, netlink) before
 * conntrack-tools (whose delete goes by original tuple: a window of milliseconds remains).
 */
export function firstAvailablePurger(...purgers: readonly ConntrackPurger[]): ConntrackPurger {
  return async (addresses) => {
    for (const purge of purgers) {
      const r = await purge(addresses);
      if (r.available) return r;
    }
    return { deleted: 0, available: false };
  };
}
