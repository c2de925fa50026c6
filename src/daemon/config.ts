import type { CaSigningLimits } from '../ca/index.js';
import { InvalidArgumentError } from '../common/index.js';

export const DEFAULT_STATE_DIR = '/var/lib/swarmctl';
export const DEFAULT_CONTROL_SOCKET = '/var/run/swarmctl.sock';
export const DEFAULT_PORT = 2377;

export type DataPlaneChoice = 'auto' | 'nftables+vxlan' | 'userland';
const DATA_PLANE_CHOICES: readonly DataPlaneChoice[] = ['auto', 'nftables+vxlan', 'userland'];
export const DATA_PLANE_ENV = 'SWARMCTL_DATA_PLANE';

/** Everything a node process needs to know, resolved and validated in one place. */
export interface DaemonConfig {
  stateDir: string;
  controlSocket: string;
  /** `host:port` the inter-node listener binds. */
  listenAddr: string;
  /** `host:port` other nodes reach this one on. */
  advertiseAddr: string;
  dockerHost: string;
  availability: 'active' | 'pause' | 'drain';
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /**
   * The routing mesh's data plane: `auto` picks nftables+VXLAN where the kernel allows, else the
   * userland proxy; the others force one (`--data-plane`, else `SWARMCTL_DATA_PLANE`).
   */
  dataPlane: DataPlaneChoice;
  /** Testing only: lower certificate-life limits (see testingCaLimits). */
  caLimits?: CaSigningLimits;
}

/**
 * Testing only: `SWARMCTL_TESTING_MIN_CERT_EXPIRY_MS` lets `--cert-expiry` go below one hour and
 * stops backdating certificates, so integration tests can watch renewals within seconds. Never
 * set it in production: certificates of seconds turn a short manager outage into a lost node.
 */
export const TESTING_MIN_CERT_EXPIRY_ENV = 'SWARMCTL_TESTING_MIN_CERT_EXPIRY_MS';

export function testingCaLimits(
  env: Readonly<Record<string, string | undefined>>,
): CaSigningLimits | undefined {
  const raw = env[TESTING_MIN_CERT_EXPIRY_ENV];
  if (raw === undefined || raw === '') return undefined;
  const ms = Number(raw);
  if (!Number.isInteger(ms) || ms < 1000) {
    throw new InvalidArgumentError(
      TESTING_MIN_CERT_EXPIRY_ENV,
      `invalid ${TESTING_MIN_CERT_EXPIRY_ENV} ${JSON.stringify(raw)}: must be an integer >= 1000`,
    );
  }
  return { minCertExpiryMs: ms, backdateMs: 0 };
}

export interface DaemonFlags {
  stateDir?: string;
  controlSocket?: string;
  listenAddr?: string;
  advertiseAddr?: string;
  dockerHost?: string;
  availability?: string;
  logLevel?: string;
  dataPlane?: string;
}

/** `ADDR[:PORT]` → `{host, port}`; IPv6 in brackets. */
export function parseHostPort(
  value: string,
  field: string,
  defaultPort?: number,
): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(value.trim());
  const fail = (why: string): never => {
    throw new InvalidArgumentError(field, `invalid ${field} ${JSON.stringify(value)}: ${why}`);
  };
  if (!m) return fail('expected ADDR[:PORT]');
  const host = m[1]!;
  if (m[2] === undefined) {
    if (defaultPort === undefined) return fail('a port is required (ADDR:PORT)');
    return { host, port: defaultPort };
  }
  const port = Number(m[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) fail('port must be 1-65535');
  return { host, port };
}

export function resolveDaemonConfig(
  flags: DaemonFlags,
  env: Readonly<Record<string, string | undefined>>,
): DaemonConfig {
  const listen = parseHostPort(flags.listenAddr ?? `0.0.0.0:${DEFAULT_PORT}`, '--listen-addr', DEFAULT_PORT);
  // Empty when it cannot be derived: only init and join need it (requireAdvertiseAddr).
  let advertise: { host: string; port: number } | undefined;
  if (flags.advertiseAddr) advertise = parseHostPort(flags.advertiseAddr, '--advertise-addr', listen.port);
  else if (listen.host !== '0.0.0.0' && listen.host !== '[::]') advertise = listen;
  const availability = flags.availability ?? 'active';
  if (availability !== 'active' && availability !== 'pause' && availability !== 'drain') {
    throw new InvalidArgumentError(
      '--availability',
      `invalid --availability ${JSON.stringify(availability)}: must be active, pause or drain`,
    );
  }
  const logLevel = flags.logLevel ?? 'info';
  if (!['debug', 'info', 'warn', 'error'].includes(logLevel)) {
    throw new InvalidArgumentError('--log-level', `invalid --log-level ${JSON.stringify(logLevel)}`);
  }
  const dataPlane = resolveDataPlaneChoice(flags.dataPlane, env[DATA_PLANE_ENV]);
  return {
    stateDir: flags.stateDir ?? DEFAULT_STATE_DIR,
    controlSocket: flags.controlSocket ?? DEFAULT_CONTROL_SOCKET,
    listenAddr: `${listen.host}:${listen.port}`,
    advertiseAddr: advertise ? `${advertise.host}:${advertise.port}` : '',
    dockerHost: flags.dockerHost ?? env.DOCKER_HOST ?? 'unix:///var/run/docker.sock',
    availability,
    logLevel: logLevel as DaemonConfig['logLevel'],
    dataPlane,
  };
}

/** `--data-plane` wins over `SWARMCTL_DATA_PLANE`; an unknown value is refused, never ignored. */
function resolveDataPlaneChoice(flag: string | undefined, env: string | undefined): DataPlaneChoice {
  const [field, raw] =
    flag !== undefined ? ['--data-plane', flag] : env ? [DATA_PLANE_ENV, env] : ['--data-plane', 'auto'];
  const found = DATA_PLANE_CHOICES.find((c) => c === raw);
  if (!found) {
    throw new InvalidArgumentError(
      field,
      `invalid ${field} ${JSON.stringify(raw)}: must be ${DATA_PLANE_CHOICES.join(', ')}`,
    );
  }
  return found;
}

/** Init and join announce an address to the other nodes: it must be known. */
export function requireAdvertiseAddr(config: DaemonConfig): string {
  if (!config.advertiseAddr) {
    throw new InvalidArgumentError(
      '--advertise-addr',
      'could not choose an IP address to advertise since --listen-addr is a wildcard: use --advertise-addr',
    );
  }
  return config.advertiseAddr;
}
