import { InvalidArgumentError } from '../../common/index.js';

/**
 * Docker's (pflag's) wording for a bad flag value: `invalid argument "-1" for "--replicas" flag: …`.
 * The error's `field` is always the long flag (`--replicas`), whatever form the user typed.
 */
export function flagError(flag: string, value: string, reason: string): InvalidArgumentError {
  return new InvalidArgumentError(
    longFlag(flag),
    `invalid argument ${JSON.stringify(value)} for ${JSON.stringify(displayFlag(flag))} flag: ${reason}`,
  );
}

/** A flag that is valid alone but not in this combination (`--replicas` with `--mode global`). */
export function flagConflict(flag: string, message: string): InvalidArgumentError {
  return new InvalidArgumentError(longFlag(flag), message);
}

const SHORT_FORMS: Readonly<Record<string, string>> = {
  env: 'e',
  label: 'l',
  publish: 'p',
  workdir: 'w',
  user: 'u',
  detach: 'd',
  quiet: 'q',
};

/** `publish` → `-p, --publish`, as pflag names flags that have a short form. */
export function displayFlag(flag: string): string {
  const name = flag.replace(/^--/, '');
  const short = SHORT_FORMS[name];
  return short === undefined ? `--${name}` : `-${short}, --${name}`;
}

export function longFlag(flag: string): string {
  return `--${flag.replace(/^--/, '')}`;
}
