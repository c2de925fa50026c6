import type { PortConfig, PortProtocol, PublishMode } from '../../api/index.js';
import { flagError } from './errors.js';
import { splitCsv } from './mount.js';

/**
 * `--publish`: the long syntax `published=P,target=T,protocol=tcp|udp,mode=ingress|host` or the
 * short one `[P[-P2]:]T[-T2][/proto]`. Docker's default mode is ingress; the parser accepts it and
 * leaves to the manager whether it is supported. Returns one entry per port of a range.
 */
export function parsePublish(flag: string, value: string): PortConfig[] {
  const text = value.trim();
  if (/\w+=\w+(,\w+=\w+)*/.test(text)) return [parseLong(flag, value, text)];
  return parseShort(flag, value, text);
}

function parseLong(flag: string, value: string, text: string): PortConfig {
  let protocol: PortProtocol = 'tcp';
  let publishMode: PublishMode = 'ingress';
  let targetPort = 0;
  let publishedPort = 0;
  for (const field of splitCsv(flag, text)) {
    const lower = field.toLowerCase();
    const eq = lower.indexOf('=');
    if (eq <= 0) throw flagError(flag, value, `invalid field: ${field}`);
    const key = lower.slice(0, eq);
    const val = lower.slice(eq + 1);
    switch (key) {
      case 'protocol':
        if (val !== 'tcp' && val !== 'udp') throw flagError(flag, value, `invalid protocol value '${val}'`);
        protocol = val;
        break;
      case 'mode':
        if (val !== 'ingress' && val !== 'host')
          throw flagError(
            flag,
            value,
            `invalid publish mode value (${val}): must be either 'ingress' or 'host'`,
          );
        publishMode = val;
        break;
      case 'target':
        targetPort = port(flag, value, val, 'target port');
        break;
      case 'published':
        publishedPort = port(flag, value, val, 'published port');
        break;
      default:
        throw flagError(flag, value, `invalid field key: ${key}`);
    }
  }
  if (targetPort === 0) throw flagError(flag, value, "missing mandatory field 'target'");
  return { protocol, targetPort, publishedPort, publishMode };
}

function port(flag: string, value: string, text: string, what: string): number {
  const n = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isInteger(n) || n > 65535)
    throw flagError(flag, value, `invalid ${what} (${text}): value must be an integer between 0 and 65535`);
  return n;
}

const SHORT_RE = /^(?:(\d+)(?:-(\d+))?:)?(\d+)(?:-(\d+))?(?:\/([a-z]+))?$/i;

function parseShort(flag: string, value: string, text: string): PortConfig[] {
  if (text.split(':').length > 2) throw flagError(flag, value, 'hostip is not supported');
  const m = SHORT_RE.exec(text);
  if (!m) {
    const container = text.split(':').pop()!.split('/')[0]!;
    throw flagError(flag, value, `invalid containerPort: ${container}`);
  }
  const proto = (m[5] ?? 'tcp').toLowerCase();
  if (proto !== 'tcp' && proto !== 'udp') throw flagError(flag, value, `invalid proto: ${m[5]}`);
  const tStart = port(flag, value, m[3]!, 'containerPort');
  const tEnd = m[4] === undefined ? tStart : port(flag, value, m[4], 'containerPort');
  if (tStart === 0 || tEnd < tStart) throw flagError(flag, value, `invalid containerPort: ${m[3]}`);
  const pStart = m[1] === undefined ? 0 : port(flag, value, m[1], 'hostPort');
  const pEnd = m[2] === undefined ? pStart : port(flag, value, m[2], 'hostPort');
  if (pEnd < pStart) throw flagError(flag, value, `invalid hostPort: ${m[1]}-${m[2]}`);
  const count = tEnd - tStart + 1;
  if (m[1] !== undefined && pEnd - pStart + 1 !== count)
    throw flagError(flag, value, 'port ranges of the published and target ports must have the same size');
  const out: PortConfig[] = [];
  for (let i = 0; i < count; i++)
    out.push({
      protocol: proto,
      targetPort: tStart + i,
      publishedPort: m[1] === undefined ? 0 : pStart + i,
      publishMode: 'ingress',
    });
  return out;
}

/** Docker's identity of a port entry, used to skip duplicates on `--publish-add`. */
export function portKey(p: PortConfig): string {
  return `${p.publishedPort}:${p.targetPort}/${p.protocol}/${p.publishMode}`;
}
