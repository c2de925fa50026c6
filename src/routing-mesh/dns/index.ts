export type { DnsServerOptions, ResolvedDnsServerOptions } from './dns-options.js';
export { resolveDnsServerOptions } from './dns-options.js';
export {
  type DnsBinding,
  type DnsBindingStatus,
  DnsServer,
  type DnsServerDeps,
  meshDnsBindings,
} from './dns-server.js';
export { buildDnsTable, type DnsTable, reverseName } from './dns-table.js';
export { parseResolvConf, resolvConfUpstreams, type Upstream, type UpstreamSource } from './upstreams.js';
