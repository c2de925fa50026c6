import { readFileSync } from 'node:fs';
import { ControlService, DaemonService } from '../api/index.js';
import { InvalidArgumentError } from '../common/index.js';
import {
  ChannelCredentials,
  clientCredentials,
  createClient,
  type RpcClient,
  serverNameOverride,
} from '../rpc/index.js';

import type { HostOptions } from './host.js';

export interface Connection {
  control: RpcClient<(typeof ControlService)['methods']>['call'];
  daemon: RpcClient<(typeof DaemonService)['methods']>['call'] | undefined;
  close(): void;
}

/**
 * Connects to a node: its local unix socket (control + daemon services), or a remote manager's
 * TCP listener with a client certificate of the cluster (control only), like docker's --tlsverify.
 */
export function connect(target: string, opts: HostOptions = {}): Connection {
  if (target.startsWith('unix://')) {
    const creds = ChannelCredentials.createInsecure();
    const control = createClient(ControlService, target, creds);
    const daemon = createClient(DaemonService, target, creds);
    return {
      control: control.call,
      daemon: daemon.call,
      close: () => {
        control.close();
        daemon.close();
      },
    };
  }
  if (!target.startsWith('tcp://')) {
    throw new InvalidArgumentError(
      '--host',
      `invalid host ${JSON.stringify(target)}: use unix:///path or tcp://host:port`,
    );
  }
  if (!opts.tlscacert || !opts.tlscert || !opts.tlskey) {
    throw new InvalidArgumentError(
      '--host',
      'a tcp:// host needs --tlscacert, --tlscert and --tlskey (a manager certificate)',
    );
  }
  const read = (path: string, flag: string): string => {
    try {
      return readFileSync(path, 'utf8');
    } catch (e) {
      throw new InvalidArgumentError(flag, `cannot read ${flag} ${path}: ${(e as Error).message}`);
    }
  };
  const creds = clientCredentials({
    ca: read(opts.tlscacert, '--tlscacert'),
    cert: read(opts.tlscert, '--tlscert'),
    key: read(opts.tlskey, '--tlskey'),
  });
  const control = createClient(ControlService, target.slice('tcp://'.length), creds, serverNameOverride());
  return { control: control.call, daemon: undefined, close: () => control.close() };
}
