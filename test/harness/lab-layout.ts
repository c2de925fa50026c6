import { join } from 'node:path';
import { InvalidArgumentError } from '../../src/common/index.js';

/**
 * Names, addresses and paths of a lab, all derived from its prefix, so that a later run (or
 * cleanupStale after a crash) finds everything a lab made without any record of it.
 */
export interface LabLayoutOptions {
  /** Lower-case letters and digits, at most 8, starting with a letter. @default 'swl' */
  prefix?: string;
  /** First three octets of the lab's /24; the bridge is .1 and host N is .(10+N). @default '10.213.0' */
  subnet?: string;
  /** Sockets, pid files, engine exec roots. @default '/run/swarmctl-lab' */
  runRoot?: string;
  /** Engine data roots, swarmctl state, logs. @default '/var/lib/swarmctl-lab' */
  dataRoot?: string;
}

export const DEFAULT_LAB_PREFIX = 'swl';
export const DEFAULT_LAB_SUBNET = '10.213.0';
export const DEFAULT_LAB_RUN_ROOT = '/run/swarmctl-lab';
export const DEFAULT_LAB_DATA_ROOT = '/var/lib/swarmctl-lab';
/** Two digits in interface names, and host addresses .11 to .30. */
export const MAX_LAB_HOSTS = 20;
/** Set on every process the lab starts, so a later cleanup recognises them. */
export const LAB_ENV_MARKER = 'SWARMCTL_LAB';

export interface LabLayout {
  readonly prefix: string;
  readonly subnet: string;
  readonly bridge: string;
  readonly bridgeAddress: string;
  /** Comment on the lab's iptables rules. */
  readonly ruleComment: string;
  /** `<runRoot>/<prefix>`: removed whole by teardown. */
  readonly runDir: string;
  /** `<dataRoot>/<prefix>`: removed whole by teardown. */
  readonly dataDir: string;
  readonly stateFile: string;
}

export interface LabHost {
  /** 1-based. */
  readonly index: number;
  /** `h<index>` */
  readonly name: string;
  readonly netns: string;
  readonly netnsPath: string;
  /** The veth end in the root namespace, enslaved to the bridge; its peer is `eth0` in the host. */
  readonly vethRoot: string;
  readonly address: string;
  readonly runDir: string;
  readonly dataDir: string;
  readonly dockerSocket: string;
  /** For DOCKER_HOST or `docker -H`. */
  readonly dockerHost: string;
  readonly dockerDataRoot: string;
  readonly dockerExecRoot: string;
  readonly dockerPidFile: string;
  readonly dockerLog: string;
  /** Containers of this host's engine live under this cgroup in every hierarchy. */
  readonly cgroupParent: string;
  readonly dockerBip: string;
  readonly dockerAddressPool: string;
  /** For swarmctl's daemon on this host (which does not exist yet). */
  readonly swarmctlStateDir: string;
  readonly swarmctlSocket: string;
  /** Pid records and logs of processes started with Lab.startProcess. */
  readonly processDir: string;
  readonly logDir: string;
}

const PREFIX_RE = /^[a-z][a-z0-9]{0,7}$/;
const SUBNET_RE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

export function resolveLabLayout(options: LabLayoutOptions = {}): LabLayout {
  const prefix = options.prefix ?? DEFAULT_LAB_PREFIX;
  if (!PREFIX_RE.test(prefix)) {
    throw new InvalidArgumentError(
      'prefix',
      `lab prefix ${JSON.stringify(prefix)} must be 1-8 lower-case letters or digits, starting with a letter`,
    );
  }
  const subnet = options.subnet ?? DEFAULT_LAB_SUBNET;
  const m = SUBNET_RE.exec(subnet);
  if (!m || m.slice(1).some((o) => Number(o) > 255)) {
    throw new InvalidArgumentError(
      'subnet',
      `lab subnet ${JSON.stringify(subnet)} must be three octets, e.g. 10.213.0`,
    );
  }
  const runDir = join(options.runRoot ?? DEFAULT_LAB_RUN_ROOT, prefix);
  return {
    prefix,
    subnet,
    bridge: `${prefix}-br`,
    bridgeAddress: `${subnet}.1`,
    ruleComment: `${prefix}-lab`,
    runDir,
    dataDir: join(options.dataRoot ?? DEFAULT_LAB_DATA_ROOT, prefix),
    stateFile: join(runDir, 'lab.json'),
  };
}

export function checkHostCount(count: number): void {
  if (!Number.isInteger(count) || count < 1 || count > MAX_LAB_HOSTS) {
    throw new InvalidArgumentError(
      'hosts',
      `host count ${count} must be an integer from 1 to ${MAX_LAB_HOSTS}`,
    );
  }
}

export function hostLayout(layout: LabLayout, index: number): LabHost {
  if (!Number.isInteger(index) || index < 1 || index > MAX_LAB_HOSTS) {
    throw new InvalidArgumentError('host', `host ${index} must be an integer from 1 to ${MAX_LAB_HOSTS}`);
  }
  const name = `h${index}`;
  const netns = `${layout.prefix}-${name}`;
  const runDir = join(layout.runDir, name);
  const dataDir = join(layout.dataDir, name);
  const dockerSocket = join(runDir, 'docker.sock');
  return {
    index,
    name,
    netns,
    netnsPath: `/run/netns/${netns}`,
    vethRoot: `${netns}-v`,
    address: `${layout.subnet}.${10 + index}`,
    runDir,
    dataDir,
    dockerSocket,
    dockerHost: `unix://${dockerSocket}`,
    dockerDataRoot: join(dataDir, 'docker'),
    dockerExecRoot: join(runDir, 'dx'),
    dockerPidFile: join(runDir, 'dockerd.pid'),
    dockerLog: join(dataDir, 'dockerd.log'),
    cgroupParent: `/${netns}`,
    // Each engine's own networks, distinct per host so addresses in logs say where they live.
    dockerBip: `10.214.${index}.1/24`,
    dockerAddressPool: `base=10.215.${index * 8}.0/21,size=24`,
    swarmctlStateDir: join(dataDir, 'swarmctl'),
    swarmctlSocket: join(runDir, 'swarmctl.sock'),
    processDir: join(runDir, 'procs'),
    logDir: join(dataDir, 'logs'),
  };
}

/** Whether a netns, link or cgroup name belongs to this lab (`<prefix>-…`). */
export function ownsName(layout: LabLayout, name: string): boolean {
  return name.startsWith(`${layout.prefix}-`);
}
