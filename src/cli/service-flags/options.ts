/**
 * The raw values commander hands over for the service flags (`command.opts()`): strings as typed,
 * repeatable flags as arrays, booleans. Nothing is defaulted here, so "absent" means "not given",
 * which `service update` needs to touch only what the user named.
 */
export interface ServiceFlagValues {
  // Waiting behaviour (not part of the spec).
  readonly detach?: boolean;
  readonly quiet?: boolean;

  // service create only.
  readonly name?: string;
  readonly mode?: string;
  readonly label?: readonly string[];
  readonly containerLabel?: readonly string[];
  readonly env?: readonly string[];
  readonly envFile?: readonly string[];
  readonly mount?: readonly string[];
  readonly constraint?: readonly string[];
  readonly placementPref?: readonly string[];
  readonly publish?: readonly string[];
  readonly network?: readonly string[];
  readonly endpointMode?: string;

  // service update only.
  readonly image?: string;
  readonly args?: string;
  readonly force?: boolean;
  readonly rollback?: boolean;
  readonly envAdd?: readonly string[];
  readonly envRm?: readonly string[];
  readonly labelAdd?: readonly string[];
  readonly labelRm?: readonly string[];
  readonly containerLabelAdd?: readonly string[];
  readonly containerLabelRm?: readonly string[];
  readonly constraintAdd?: readonly string[];
  readonly constraintRm?: readonly string[];
  readonly placementPrefAdd?: readonly string[];
  readonly placementPrefRm?: readonly string[];
  readonly mountAdd?: readonly string[];
  readonly mountRm?: readonly string[];
  readonly publishAdd?: readonly string[];
  readonly publishRm?: readonly string[];
  readonly networkAdd?: readonly string[];
  readonly networkRm?: readonly string[];

  // Both.
  readonly workdir?: string;
  readonly user?: string;
  readonly hostname?: string;
  readonly entrypoint?: string;
  readonly init?: boolean;
  readonly limitCpu?: string;
  readonly limitMemory?: string;
  readonly reserveCpu?: string;
  readonly reserveMemory?: string;
  readonly stopGracePeriod?: string;
  readonly stopSignal?: string;
  readonly replicas?: string;
  readonly maxConcurrent?: string;
  readonly replicasMaxPerNode?: string;
  readonly restartCondition?: string;
  readonly restartDelay?: string;
  readonly restartMaxAttempts?: string;
  readonly restartWindow?: string;
  readonly updateParallelism?: string;
  readonly updateDelay?: string;
  readonly updateMonitor?: string;
  readonly updateFailureAction?: string;
  readonly updateMaxFailureRatio?: string;
  readonly updateOrder?: string;
  readonly updateCanary?: string;
  readonly updateCanaryAuto?: string;
  readonly rollbackParallelism?: string;
  readonly rollbackDelay?: string;
  readonly rollbackMonitor?: string;
  readonly rollbackFailureAction?: string;
  readonly rollbackMaxFailureRatio?: string;
  readonly rollbackOrder?: string;
  readonly healthCmd?: string;
  readonly healthInterval?: string;
  readonly healthTimeout?: string;
  readonly healthRetries?: string;
  readonly healthStartPeriod?: string;
  /** Commander's negation of `--no-healthcheck`: `false` when the flag was given. */
  readonly healthcheck?: boolean;
}

export interface NodeUpdateFlagValues {
  readonly availability?: string;
  readonly labelAdd?: readonly string[];
  readonly labelRm?: readonly string[];
  readonly role?: string;
}
