import type { Service, UpdateConfig, UpdateState } from '../../../api/index.js';

/** Docker's defaults for `--update-*` and `--rollback-*`. */
export const DEFAULT_UPDATE_CONFIG: Required<UpdateConfig> = {
  parallelism: 1,
  delayMs: 0,
  failureAction: 'pause',
  monitorMs: 5_000,
  maxFailureRatio: 0,
  order: 'stop-first',
  canary: 0,
  canaryAutoPromoteMs: 0,
};

/** States in which the updater replaces tasks (or, for `canary`, watches the canaries). */
export function isActiveUpdate(state: UpdateState | undefined): boolean {
  return state === 'updating' || state === 'rollback_started' || state === 'canary';
}

/**
 * States the updater follows: the active ones, and the paused ones, in which it only finishes
 * slots already started (so a slot never keeps an old task beside a healthy new one).
 */
export function isTrackedUpdate(state: UpdateState | undefined): boolean {
  return isActiveUpdate(state) || state === 'paused' || state === 'rollback_paused';
}

export function isRollback(state: UpdateState | undefined): boolean {
  return state === 'rollback_started' || state === 'rollback_paused' || state === 'rollback_completed';
}

/**
 * The config the current rollout follows. A rollback uses the rollback config of the spec it
 * rolls back from (now `previousSpec`: where `--rollback-*` were given), else the restored
 * spec's; canaries never apply to a rollback.
 */
export function effectiveUpdateConfig(service: Service): Required<UpdateConfig> {
  const state = service.status.updateStatus?.state;
  if (isRollback(state)) {
    const c = service.previousSpec?.rollbackConfig ?? service.spec.rollbackConfig;
    return { ...DEFAULT_UPDATE_CONFIG, ...c, canary: 0, canaryAutoPromoteMs: 0 };
  }
  return { ...DEFAULT_UPDATE_CONFIG, ...service.spec.updateConfig };
}
