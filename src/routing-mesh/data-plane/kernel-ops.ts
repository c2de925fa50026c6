import { SwarmError } from '../../common/index.js';
import type { CommandRunner } from './command-runner.js';
import {
  IPTABLES_COMMENT,
  MESH_CT_MARK,
  RETURN_RULE_PREF,
  RETURN_TABLE_BASE,
  type ReturnRoute,
} from './plan.js';

/** Runs one command, its stdout; a failure throws unless `tolerate` (deleting what may already be gone). */
export async function runCommand(
  run: CommandRunner,
  argv: readonly string[],
  tolerate = false,
): Promise<string> {
  const r = await run(argv);
  if (r.code !== 0 && !tolerate) throw new SwarmError('IO', `${argv.join(' ')}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** One `nft -f` transaction: applied whole or not at all. */
export async function runNft(run: CommandRunner, script: string): Promise<void> {
  const r = await run(['nft', '-f', '-'], script);
  if (r.code !== 0) throw new SwarmError('IO', `nft failed: ${r.stderr.trim()}\n${script}`);
}

// The FORWARD rule is an iptables one: an nft `accept` ends only its own base chain, and Docker's
// FORWARD (policy DROP once Docker runs) would still drop a new DNATed connection to the bridge.
const MARK = `0x${MESH_CT_MARK.toString(16)}`;
const FORWARD_RULE = [
  '-m',
  'connmark',
  '--mark',
  `${MARK}/${MARK}`,
  '-m',
  'comment',
  '--comment',
  IPTABLES_COMMENT,
  '-j',
  'ACCEPT',
];

/** Our ACCEPT of connections the mesh DNATed, at the top of FORWARD and DOCKER-USER (or every copy gone). */
export async function setForwardRule(run: CommandRunner, present: boolean): Promise<void> {
  // Also in DOCKER-USER, which Docker keeps ahead of its isolation chains: a reply that leaves a
  // task by its default bridge (docker0) and returns through the overlay would be dropped there.
  for (const chain of ['FORWARD', 'DOCKER-USER']) {
    const rule = [chain, ...FORWARD_RULE];
    if (present) {
      if (chain !== 'FORWARD' && (await run(['iptables', '-S', chain])).code !== 0) continue;
      const has = await run(['iptables', '-C', ...rule]);
      if (has.code !== 0) await runCommand(run, ['iptables', '-I', chain, '1', ...FORWARD_RULE]);
      continue;
    }
    // Every copy (a predecessor may have added one more).
    for (let i = 0; i < 8; i++) if ((await run(['iptables', '-D', ...rule])).code !== 0) break;
  }
}

/** Adds the return routes `next` has and `prev` had not, and deletes the reverse. */
export async function diffReturnRoutes(
  run: CommandRunner,
  prev: readonly ReturnRoute[],
  next: readonly ReturnRoute[],
): Promise<void> {
  const key = (r: ReturnRoute): string => `${r.mark} ${r.via} ${r.dev}`;
  const before = new Set(prev.map(key));
  const after = new Set(next.map(key));
  for (const r of prev) if (!after.has(key(r))) await setReturnRoute(run, r, false);
  for (const r of next) if (!before.has(key(r))) await setReturnRoute(run, r, true);
}

async function setReturnRoute(run: CommandRunner, r: ReturnRoute, present: boolean): Promise<void> {
  const table = String(RETURN_TABLE_BASE + r.mark);
  const rule = [
    'fwmark',
    `0x${r.mark.toString(16)}/0xffff`,
    'lookup',
    table,
    'pref',
    String(RETURN_RULE_PREF),
  ];
  await runCommand(run, ['ip', 'rule', 'del', ...rule], true);
  if (!present) {
    await runCommand(run, ['ip', 'route', 'flush', 'table', table], true);
    return;
  }
  await runCommand(run, ['ip', 'rule', 'add', ...rule]);
  await runCommand(run, ['ip', 'route', 'replace', 'default', 'via', r.via, 'dev', r.dev, 'table', table]);
}

/** Every policy rule of ours (one per return route), whoever added it. */
export async function removeReturnRules(run: CommandRunner): Promise<void> {
  for (let i = 0; i < 64; i++) {
    if ((await run(['ip', 'rule', 'del', 'pref', String(RETURN_RULE_PREF)])).code !== 0) break;
  }
}
