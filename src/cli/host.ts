/** Where the CLI finds its node; kept apart from the gRPC client so `version` and `--help` stay light. */
export const DEFAULT_HOST = 'unix:///var/run/swarmctl.sock';

export interface HostOptions {
  host?: string;
  tlscacert?: string;
  tlscert?: string;
  tlskey?: string;
}

/** The daemon the CLI talks to: `-H`, then SWARMCTL_HOST, then the default socket. */
export function resolveHost(opts: HostOptions, env: Readonly<Record<string, string | undefined>>): string {
  return opts.host ?? env.SWARMCTL_HOST ?? DEFAULT_HOST;
}

// Heavy modules (gRPC) load only when a command needs them.
export const loadControlClient = () => import('./control-client.js');
export const loadLauncher = () => import('./daemon-launcher.js');
