import type { NetworkId } from '../ids.js';
import type { Driver, Labels } from './meta.js';

/** What one task runs: the service's template, copied into each task. */

export type MountType = 'bind' | 'volume' | 'tmpfs';

export interface Mount {
  readonly type: MountType;
  /** Host path (bind) or volume name (volume); absent for tmpfs and anonymous volumes. */
  readonly source?: string;
  /** Absolute path inside the container. */
  readonly target: string;
  readonly readOnly?: boolean;
  readonly bindOptions?: {
    readonly propagation?: 'private' | 'rprivate' | 'shared' | 'rshared' | 'slave' | 'rslave';
  };
  readonly volumeOptions?: {
    readonly noCopy?: boolean;
    readonly labels?: Labels;
    readonly driver?: Driver;
  };
  readonly tmpfsOptions?: { readonly sizeBytes?: number; readonly mode?: number };
}

/**
 * Docker's healthcheck. `test`: `[]` inherits the image's, `['NONE']` disables it,
 * `['CMD', exe, ...args]` or `['CMD-SHELL', command]` runs one.
 */
export interface HealthConfig {
  readonly test: readonly string[];
  readonly intervalMs?: number;
  readonly timeoutMs?: number;
  readonly retries?: number;
  readonly startPeriodMs?: number;
}

export interface ContainerSpec {
  readonly image: string;
  /** Replaces the image's ENTRYPOINT (docker's `--entrypoint`). */
  readonly entrypoint?: readonly string[];
  /** Replaces the image's CMD: the positional COMMAND; the engine gets `command ++ args`. */
  readonly command?: readonly string[];
  /** Positional ARGs after COMMAND. */
  readonly args?: readonly string[];
  /** `KEY=value` entries, as docker passes them. */
  readonly env?: readonly string[];
  /** Container labels (`--container-label`), distinct from the service's labels. */
  readonly labels?: Labels;
  readonly mounts?: readonly Mount[];
  readonly user?: string;
  readonly workdir?: string;
  readonly hostname?: string;
  /** Run an init process (tini) as PID 1. */
  readonly init?: boolean;
  readonly stopSignal?: string;
  /** @default 10 s (DEFAULT_STOP_GRACE_PERIOD_MS) */
  readonly stopGracePeriodMs?: number;
  readonly healthcheck?: HealthConfig;
}

export interface ResourceAmounts {
  /** CPU in units of 1e-9 CPUs (docker's NanoCPUs): 1.5 CPUs = 1_500_000_000. */
  readonly nanoCPUs?: number;
  readonly memoryBytes?: number;
}

export interface ResourceRequirements {
  readonly limits?: ResourceAmounts;
  /** What the scheduler sets aside on the chosen node. */
  readonly reservations?: ResourceAmounts;
}

export type RestartCondition = 'none' | 'on-failure' | 'any';

export interface RestartPolicy {
  /** @default 'any' */
  readonly condition: RestartCondition;
  /** @default 5 s */
  readonly delayMs: number;
  /** 0 means unlimited. */
  readonly maxAttempts: number;
  /** Window in which attempts are counted; 0 means unbounded. */
  readonly windowMs: number;
}

export interface PlacementPreference {
  /** A node attribute such as `node.labels.zone`: tasks are spread over its values. */
  readonly spread: string;
}

export interface Placement {
  /** `node.role==manager`, `node.labels.zone!=a`, `engine.labels.x==y`… */
  readonly constraints?: readonly string[];
  readonly preferences?: readonly PlacementPreference[];
  /** 0 means unlimited. */
  readonly maxReplicasPerNode?: number;
}

export interface NetworkAttachmentConfig {
  readonly target: NetworkId;
  readonly aliases?: readonly string[];
}

export interface TaskSpec {
  readonly container: ContainerSpec;
  readonly resources?: ResourceRequirements;
  readonly restartPolicy?: RestartPolicy;
  readonly placement?: Placement;
  readonly networks?: readonly NetworkAttachmentConfig[];
  /** Bumped by `service update --force` to redeploy an unchanged spec. */
  readonly forceUpdate?: number;
}
