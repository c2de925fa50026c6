import type { CaSigningLimits } from '../ca/index.js';
import { InvalidArgumentError } from '../common/index.js';

export const DEFAULT_STATE_DIR = '/var/lib/swarmctl';
export const DEFAULT_CONTROL_SOCKET = '/var/run/swarmctl.sock';
export const DEFAULT_PORT = 2377;

export type DataPlaneChoice = 'auto' | 'nftables+vxlan' | 'userland';
const DATA_PLANE_CHOICES: readonly DataPlaneChoice[] = ['auto', 'nftables+vxlan', 'userland'];
export const DATA_PLANE_ENV = 'SWARMCTL_DATA_PLANE';
export type DataPlaneSource = '--data-plane' | typeof DATA_PLANE_ENV | 'default';

export function isDataPlaneChoice(v: unknown): v is DataPlaneChoice {
  return DATA_PLANE_CHOICES.some((c) => c === v);
}

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
  /**
   * Where `dataPlane` came from. Only an explicit choice (flag or environment) overrides the one
   * the state directory remembers; the default does not (see `settleDataPlane`).
   */
  dataPlaneSource: DataPlaneSource;
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
  const { dataPlane, dataPlaneSource } = resolveDataPlaneChoice(flags.dataPlane, env[DATA_PLANE_ENV]);
  return {
    stateDir: flags.stateDir ?? DEFAULT_STATE_DIR,
    controlSocket: flags.controlSocket ?? DEFAULT_CONTROL_SOCKET,
    listenAddr: `${listen.host}:${listen.port}`,
    advertiseAddr: advertise ? `${advertise.host}:${advertise.port}` : '',
    dockerHost: flags.dockerHost ?? env.DOCKER_HOST ?? 'unix:///var/run/docker.sock',
    availability,
    logLevel: logLevel as DaemonConfig['logLevel'],
    dataPlane,
    dataPlaneSource,
  };
}

/** `--data-plane` wins over `SWARMCTL_DATA_PLANE`; an unknown value is refused, never ignored. */
function resolveDataPlaneChoice(
  flag: string | undefined,
  env: string | undefined,
): { dataPlane: DataPlaneChoice; dataPlaneSource: DataPlaneSource } {
  const [source, raw]: [DataPlaneSource, string] =
    flag !== undefined ? ['--data-plane', flag] : env ? [DATA_PLANE_ENV, env] : ['default', 'auto'];
  if (!isDataPlaneChoice(raw)) {
    const field = source === 'default' ? '--data-plane' : source;
    throw new InvalidArgumentError(
      field,
      `invalid ${field} ${JSON.stringify(raw)}: must be ${DATA_PLANE_CHOICES.join(', ')}`,
    );
  }
  return { dataPlane: raw, dataPlaneSource: source };
}

/** What the node runs with, and whether the state directory must (re)record it. */
export interface DataPlaneSettlement {
  readonly choice: DataPlaneChoice;
  /** What made the choice, for the node's status: this start's flag or environment, or the record. */
  readonly chosenBy: DataPlaneSource | 'state directory';
  readonly persist: boolean;
  /** An explicit choice that replaces a different remembered one (logged by the daemon). */
  readonly changed?: { readonly from: DataPlaneChoice; readonly source: DataPlaneSource };
}

/**
 * The remembered choice (`data-plane.json`) against this start's: the first start records its
 * choice; later starts keep the remembered one unless `--data-plane` or SWARMCTL_DATA_PLANE says
 * otherwise, which then replaces it. A restart without flags must not silently switch a node that
 * was told `userland` back to `auto` (its overlays would move to the kernel data plane).
 */
export function settleDataPlane(
  config: Pick<DaemonConfig, 'dataPlane' | 'dataPlaneSource'>,
  remembered: DataPlaneChoice | undefined,
): DataPlaneSettlement {
  if (remembered === undefined)
    return { choice: config.dataPlane, chosenBy: config.dataPlaneSource, persist: true };
  if (config.dataPlaneSource === 'default')
    return { choice: remembered, chosenBy: 'state directory', persist: false };
  if (config.dataPlane === remembered)
    return { choice: remembered, chosenBy: config.dataPlaneSource, persist: false };
  return {
    choice: config.dataPlane,
    chosenBy: config.dataPlaneSource,
    persist: true,
    changed: { from: remembered, source: config.dataPlaneSource },
  };
}

/** The phrase a forced data plane's status gives after "chosen by". */
export function dataPlaneChosenBy(s: Pick<DataPlaneSettlement, 'choice' | 'chosenBy'>): string {
  if (s.chosenBy === 'state directory') return `the state directory's record (${s.choice})`;
  if (s.chosenBy === '--data-plane') return `--data-plane ${s.choice}`;
  return `${s.chosenBy}=${s.choice}`;
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
