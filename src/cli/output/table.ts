import { InvalidArgumentError } from '../../common/index.js';

/**
 * Docker's list layout (its tabwriter with minwidth 10, padding 3): every column but the last is
 * left-aligned and padded to its widest cell plus 3 spaces, at least 10; the last is written as is.
 */
export function renderTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const lines = [header, ...rows];
  const widths = header.map((_, col) =>
    col === header.length - 1 ? 0 : Math.max(10, ...lines.map((l) => width(l[col] ?? '') + 3)),
  );
  return lines
    .map((cells) =>
      header
        .map((_, col) => {
          const cell = cells[col] ?? '';
          return col === header.length - 1 ? cell : cell + ' '.repeat(widths[col]! - width(cell));
        })
        .join(''),
    )
    .map((line) => `${line}\n`)
    .join('');
}

/** Display width in code points, as Go's tabwriter counts runes. */
function width(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

export type ListFormat = 'table' | 'json';

/** `--format`: docker's `table` (the default) or `json` (one object per line); templates are not supported. */
export function parseListFormat(format: string | undefined): ListFormat {
  if (format === undefined || format === '' || format === 'table') return 'table';
  if (format === 'json') return 'json';
  throw new InvalidArgumentError(
    '--format',
    `invalid argument ${JSON.stringify(format)} for "--format" flag: only "table" and "json" are supported`,
  );
}

/** `--format json` for lists: one JSON object per row, as docker prints them. */
export function renderJsonLines(rows: readonly Readonly<Record<string, unknown>>[]): string {
  return rows.map((r) => `${JSON.stringify(r)}\n`).join('');
}

/** `inspect` without `--pretty`: the objects as an indented JSON array. */
export function renderInspectJson(objects: readonly unknown[]): string {
  return `${JSON.stringify(objects, null, 4)}\n`;
}

/** Docker's short IDs: the first 12 characters. */
export function truncateId(id: string): string {
  return id.slice(0, 12);
}

/** Cuts to `max` characters, the last one becoming `…`. */
export function ellipsis(text: string, max: number): string {
  const chars = [...text];
  if (chars.length <= max) return text;
  return `${chars.slice(0, max - 1).join('')}…`;
}

/** Docker's PrettyPrint for enum-like strings: `running` → `Running`, `READY` → `Ready`. */
export function capitalizeFirst(text: string): string {
  if (text.length <= 1) return text.toLowerCase();
  return text[0]!.toUpperCase() + text.slice(1).toLowerCase();
}

/** Natural order (`web.2` before `web.10`), as docker sorts names and hostnames. */
export function naturalCompare(a: string, b: string): number {
  const re = /(\d+)|(\D+)/g;
  const pa = a.match(re) ?? [];
  const pb = b.match(re) ?? [];
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const x = pa[i]!;
    const y = pb[i]!;
    if (x === y) continue;
    const dx = /^\d/.test(x);
    const dy = /^\d/.test(y);
    if (dx && dy) {
      const diff = Number(x) - Number(y);
      if (diff !== 0) return diff;
      return x.length - y.length;
    }
    return x < y ? -1 : 1;
  }
  return pa.length - pb.length;
}
