import { NFT_TABLE, type RulesPlan } from './plan.js';

const T = `ip ${NFT_TABLE}`;

/**
 * The whole table in one transaction: created (or replaced) atomically. Priorities are numeric:
 * nft 1.0.6 refuses named ones on the output hook. Ours run just before Docker's NAT so that a
 * mesh port wins over nothing of Docker's (Docker publishes host ports through its own chains).
 */
export function fullTableScript(rules: RulesPlan): string {
  const lines = [
    `table ${T} {}`,
    `delete table ${T}`,
    `table ${T} {`,
    '  chain prerouting { type nat hook prerouting priority -110; policy accept; fib daddr type local jump published; }',
    '  chain output { type nat hook output priority -110; policy accept; fib daddr type local jump published; }',
    '  chain postrouting { type nat hook postrouting priority 90; policy accept; jump to-overlay; }',
    '  chain mark-in { type filter hook prerouting priority -150; policy accept; jump return-mark; }',
    // The routing mark must not outlive the routing decision: VXLAN's outer packet inherits it and
    // would be routed back into the overlay by the same policy rule.
    '  chain mark-out { type filter hook postrouting priority 100; policy accept; meta mark & 0x0000ffff != 0 meta mark set meta mark & 0xffff0000; }',
  ];
  // Chains first (empty), then their rules: `published` jumps to service chains declared later.
  for (const name of rules.chains.keys()) lines.push(`  chain ${name} {}`);
  lines.push('}');
  for (const [name, body] of rules.chains) for (const r of body) lines.push(`add rule ${T} ${name} ${r}`);
  return `${lines.join('\n')}\n`;
}

/**
 * Only the chains that differ, in one transaction: a backend change rewrites that service's
 * chain atomically (flush and refill commit together), and the rest of the table is untouched.
 * Undefined when nothing differs.
 */
export function diffTableScript(prev: RulesPlan, next: RulesPlan): string | undefined {
  const lines: string[] = [];
  for (const name of next.chains.keys()) if (!prev.chains.has(name)) lines.push(`add chain ${T} ${name}`);
  for (const [name, body] of next.chains) {
    const old = prev.chains.get(name);
    if (old && sameLines(old, body)) continue;
    if (old) lines.push(`flush chain ${T} ${name}`);
    for (const r of body) lines.push(`add rule ${T} ${name} ${r}`);
  }
  // Removed chains last: the dispatch chain no longer jumps to them by then.
  for (const name of prev.chains.keys()) {
    if (!next.chains.has(name)) lines.push(`flush chain ${T} ${name}`, `delete chain ${T} ${name}`);
  }
  return lines.length === 0 ? undefined : `${lines.join('\n')}\n`;
}

export const deleteTableScript = `table ${T} {}\ndelete table ${T}\n`;

function sameLines(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
