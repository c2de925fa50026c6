import { formatDuration } from '../../common/index.js';

/**
 * Docker's HumanDuration (go-units): `Less than a second`, `1 second`, `5 seconds`,
 * `About a minute`, `5 minutes`, `About an hour`, `5 hours`, `3 days`, `2 weeks`, `3 months`, `2 years`.
 */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.trunc(ms / 60_000);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.trunc(ms / 3_600_000 + 0.5);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.trunc(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.trunc(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24 / 30)} months`;
  return `${Math.trunc(Math.trunc(ms / 3_600_000) / 24 / 365)} years`;
}

/** `service ps`'s CURRENT STATE: `Running 5 seconds ago`, `Pending less than a second ago`. */
export function stateSince(state: string, since: number, now: number): string {
  const cap =
    state.length <= 1 ? state.toLowerCase() : state[0]!.toUpperCase() + state.slice(1).toLowerCase();
  return `${cap} ${humanDuration(Math.max(0, now - since)).toLowerCase()} ago`;
}

const BINARY_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB', 'ZiB', 'YiB'];

/** Docker's BytesSize: binary units, 4 significant digits: `512MiB`, `1.5GiB`, `10MiB`. */
export function bytesSize(bytes: number): string {
  let size = bytes;
  let unit = 0;
  while (size >= 1024 && unit < BINARY_UNITS.length - 1) {
    size /= 1024;
    unit++;
  }
  return `${Number(size.toPrecision(4))}${BINARY_UNITS[unit]}`;
}

/** Go's Duration.String() for milliseconds (`0s`, `5s`, `1m30s`), as inspect prints durations. */
export function goDuration(ms: number | undefined): string {
  return formatDuration(ms ?? 0);
}

/** Go's Time.String() in UTC, through docker's PrettyPrint: `2009-11-10 23:00:00.5 +0000 utc`. */
export function goTime(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  const frac = d.getUTCMilliseconds() === 0 ? '' : `.${pad(d.getUTCMilliseconds(), 3).replace(/0+$/, '')}`;
  return (
    `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}${frac} +0000 utc`
  );
}
