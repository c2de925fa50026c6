/**
 * Every service flag we take, with docker's names, short forms, value types and help text. The
 * register helpers and the "which flags were given" logic both read this one table.
 */

export interface FlagDef {
  /** Long name without the dashes. */
  readonly name: string;
  readonly short?: string;
  /** Value type shown in help (`uint`, `list`, `duration`…); absent for booleans. */
  readonly type?: string;
  /** Given several times, the values accumulate (docker's `list`, `mount`, `port`, `pref`). */
  readonly repeatable?: boolean;
  readonly help: string;
}

const list = (name: string, help: string, type = 'list', short?: string): FlagDef => ({
  name,
  type,
  repeatable: true,
  help,
  ...(short !== undefined && { short }),
});

/** Flags `service create` and `service update` share (docker's addServiceFlags). */
export const COMMON_SERVICE_FLAGS: readonly FlagDef[] = [
  { name: 'detach', short: 'd', help: 'Exit immediately instead of waiting for the service to converge' },
  { name: 'quiet', short: 'q', help: 'Suppress progress output' },
  { name: 'workdir', short: 'w', type: 'string', help: 'Working directory inside the container' },
  { name: 'user', short: 'u', type: 'string', help: 'Username or UID (format: <name|uid>[:<group|gid>])' },
  { name: 'hostname', type: 'string', help: 'Container hostname' },
  { name: 'entrypoint', type: 'command', help: 'Overwrite the default ENTRYPOINT of the image' },
  { name: 'init', help: 'Use an init inside each service container to forward signals and reap processes' },
  { name: 'limit-cpu', type: 'decimal', help: 'Limit CPUs' },
  { name: 'limit-memory', type: 'bytes', help: 'Limit Memory' },
  { name: 'reserve-cpu', type: 'decimal', help: 'Reserve CPUs' },
  { name: 'reserve-memory', type: 'bytes', help: 'Reserve Memory' },
  {
    name: 'stop-grace-period',
    type: 'duration',
    help: 'Time to wait before force killing a container (ns|us|ms|s|m|h) (default 10s)',
  },
  { name: 'stop-signal', type: 'string', help: 'Signal to stop the container' },
  { name: 'replicas', type: 'uint', help: 'Number of tasks' },
  {
    name: 'max-concurrent',
    type: 'uint',
    help: 'Number of job tasks to run concurrently (default equal to --replicas)',
  },
  {
    name: 'replicas-max-per-node',
    type: 'uint',
    help: 'Maximum number of tasks per node (default 0 = unlimited)',
  },
  {
    name: 'restart-condition',
    type: 'string',
    help: 'Restart when condition is met ("none", "on-failure", "any") (default "any")',
  },
  {
    name: 'restart-delay',
    type: 'duration',
    help: 'Delay between restart attempts (ns|us|ms|s|m|h) (default 5s)',
  },
  { name: 'restart-max-attempts', type: 'uint', help: 'Maximum number of restarts before giving up' },
  {
    name: 'restart-window',
    type: 'duration',
    help: 'Window used to evaluate the restart policy (ns|us|ms|s|m|h)',
  },
  {
    name: 'update-parallelism',
    type: 'uint',
    help: 'Maximum number of tasks updated simultaneously (0 to update all at once) (default 1)',
  },
  { name: 'update-delay', type: 'duration', help: 'Delay between updates (ns|us|ms|s|m|h) (default 0s)' },
  {
    name: 'update-monitor',
    type: 'duration',
    help: 'Duration after each task update to monitor for failure (ns|us|ms|s|m|h) (default 5s)',
  },
  {
    name: 'update-failure-action',
    type: 'string',
    help: 'Action on update failure ("pause", "continue", "rollback") (default "pause")',
  },
  {
    name: 'update-max-failure-ratio',
    type: 'float',
    help: 'Failure rate to tolerate during an update (default 0)',
  },
  {
    name: 'update-order',
    type: 'string',
    help: 'Update order ("start-first", "stop-first") (default "stop-first")',
  },
  {
    name: 'update-canary',
    type: 'uint',
    help: 'Update this many tasks first, then hold until "service promote" (default 0 = no canary)',
  },
  {
    name: 'update-canary-auto',
    type: 'duration',
    help: 'Promote the canaries by themselves once they stayed healthy this long (ns|us|ms|s|m|h)',
  },
  {
    name: 'rollback-parallelism',
    type: 'uint',
    help: 'Maximum number of tasks rolled back simultaneously (0 to roll back all at once) (default 1)',
  },
  {
    name: 'rollback-delay',
    type: 'duration',
    help: 'Delay between task rollbacks (ns|us|ms|s|m|h) (default 0s)',
  },
  {
    name: 'rollback-monitor',
    type: 'duration',
    help: 'Duration after each task rollback to monitor for failure (ns|us|ms|s|m|h) (default 5s)',
  },
  {
    name: 'rollback-failure-action',
    type: 'string',
    help: 'Action on rollback failure ("pause", "continue") (default "pause")',
  },
  {
    name: 'rollback-max-failure-ratio',
    type: 'float',
    help: 'Failure rate to tolerate during a rollback (default 0)',
  },
  {
    name: 'rollback-order',
    type: 'string',
    help: 'Rollback order ("start-first", "stop-first") (default "stop-first")',
  },
  { name: 'health-cmd', type: 'string', help: 'Command to run to check health' },
  { name: 'health-interval', type: 'duration', help: 'Time between running the check (ms|s|m|h)' },
  { name: 'health-timeout', type: 'duration', help: 'Maximum time to allow one check to run (ms|s|m|h)' },
  { name: 'health-retries', type: 'int', help: 'Consecutive failures needed to report unhealthy' },
  {
    name: 'health-start-period',
    type: 'duration',
    help: 'Start period for the container to initialize before counting retries towards unstable (ms|s|m|h)',
  },
  { name: 'no-healthcheck', help: 'Disable any container-specified HEALTHCHECK' },
];

export const CREATE_ONLY_FLAGS: readonly FlagDef[] = [
  { name: 'name', type: 'string', help: 'Service name' },
  {
    name: 'mode',
    type: 'string',
    help: 'Service mode ("replicated", "global", "replicated-job", "global-job") (default "replicated")',
  },
  list('label', 'Service labels', 'list', 'l'),
  list('container-label', 'Container labels'),
  list('env', 'Set environment variables', 'list', 'e'),
  list('env-file', 'Read in a file of environment variables'),
  list('mount', 'Attach a filesystem mount to the service', 'mount'),
  list('constraint', 'Placement constraints'),
  list('placement-pref', 'Add a placement preference', 'pref'),
  list('publish', 'Publish a port as a node port', 'port', 'p'),
  list('network', 'Network attachments', 'network'),
  { name: 'endpoint-mode', type: 'string', help: 'Endpoint mode (vip or dnsrr) (default "vip")' },
];

export const UPDATE_ONLY_FLAGS: readonly FlagDef[] = [
  { name: 'image', type: 'string', help: 'Service image tag' },
  { name: 'args', type: 'command', help: 'Service command args' },
  { name: 'force', help: 'Force update even if no changes require it' },
  { name: 'rollback', help: 'Rollback to previous specification' },
  list('env-add', 'Add or update an environment variable'),
  list('env-rm', 'Remove an environment variable'),
  list('label-add', 'Add or update a service label'),
  list('label-rm', 'Remove a label by its key'),
  list('container-label-add', 'Add or update a container label'),
  list('container-label-rm', 'Remove a container label by its key'),
  list('constraint-add', 'Add or update a placement constraint'),
  list('constraint-rm', 'Remove a constraint'),
  list('placement-pref-add', 'Add a placement preference', 'pref'),
  list('placement-pref-rm', 'Remove a placement preference', 'pref'),
  list('mount-add', 'Add or update a mount on a service', 'mount'),
  list('mount-rm', 'Remove a mount by its target path'),
  list('publish-add', 'Add or update a published port', 'port'),
  list('publish-rm', 'Remove a published port by its target port', 'port'),
  list('network-add', 'Add a network', 'network'),
  list('network-rm', 'Remove a network'),
];

export const CREATE_FLAGS: readonly FlagDef[] = sortByName([...COMMON_SERVICE_FLAGS, ...CREATE_ONLY_FLAGS]);
export const UPDATE_FLAGS: readonly FlagDef[] = sortByName([...COMMON_SERVICE_FLAGS, ...UPDATE_ONLY_FLAGS]);

/** `service rollback`, `service scale`: only the waiting flags (docker's set). */
export const ROLLBACK_FLAGS: readonly FlagDef[] = COMMON_SERVICE_FLAGS.filter(
  (f) => f.name === 'detach' || f.name === 'quiet',
);
export const SCALE_FLAGS: readonly FlagDef[] = COMMON_SERVICE_FLAGS.filter((f) => f.name === 'detach');

export const NODE_UPDATE_FLAGS: readonly FlagDef[] = [
  { name: 'availability', type: 'string', help: 'Availability of the node ("active", "pause", "drain")' },
  list('label-add', 'Add or update a node label ("key=value")'),
  list('label-rm', 'Remove a node label if exists'),
  { name: 'role', type: 'string', help: 'Role of the node ("worker", "manager")' },
];

function sortByName(flags: FlagDef[]): FlagDef[] {
  return flags.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Commander's attribute for a flag: `update-parallelism` → `updateParallelism`; `no-x` → `x`. */
export function attributeName(flag: string): string {
  const name = flag.startsWith('no-') ? flag.slice(3) : flag;
  return name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}
