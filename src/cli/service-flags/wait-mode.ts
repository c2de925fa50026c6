export interface WaitMode {
  /** Wait for convergence (or the update's end) before returning. */
  readonly wait: boolean;
  /** Draw per-task progress; only on a terminal and without `--quiet`. */
  readonly showProgress: boolean;
}

/**
 * `--detach`/`--quiet` as docker reads them, with our default: wait when a terminal is attached,
 * return at once in a script unless `--detach=false` asks to wait (then the exit code tells).
 */
export function resolveWaitMode(
  opts: { readonly detach?: boolean; readonly quiet?: boolean },
  isTerminal: boolean,
): WaitMode {
  const wait = opts.detach === undefined ? isTerminal : !opts.detach;
  return { wait, showProgress: wait && isTerminal && opts.quiet !== true };
}
