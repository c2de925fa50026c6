// Filled in by esbuild's `define` at build time; absent when running from source.
declare const __SWARMCTL_VERSION__: string | undefined;
declare const __SWARMCTL_COMMIT__: string | undefined;

export interface BuildInfo {
  version: string;
  commit: string;
}

export function buildInfo(): BuildInfo {
  return {
    version: typeof __SWARMCTL_VERSION__ === 'string' ? __SWARMCTL_VERSION__ : '0.0.0-dev',
    commit: typeof __SWARMCTL_COMMIT__ === 'string' ? __SWARMCTL_COMMIT__ : 'unknown',
  };
}
