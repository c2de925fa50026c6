import { describe, expect, it } from 'vitest';
import type { NetworkId, ServiceSpec } from '../../api/index.js';
import { isSwarmError } from '../../common/index.js';
import type { ServiceFlagValues } from './options.js';
import { applyServiceUpdate } from './update.js';
import type { ParseEnvironment } from './values.js';

const FRONT = 'f0000000000000000000000001' as NetworkId;
const BACK = 'b0000000000000000000000002' as NetworkId;
const KNOWN: ParseEnvironment = {
  networks: [
    { id: FRONT, name: 'front' },
    { id: BACK, name: 'back' },
    { id: 'c0000000000000000000000003', name: 'cache' },
  ],
};

const BASE: ServiceSpec = {
  name: 'web',
  mode: { type: 'replicated', replicas: 1 },
  taskTemplate: { container: { image: 'web:v1' }, networks: [{ target: FRONT }] },
  endpointSpec: {
    mode: 'vip',
    ports: [{ protocol: 'tcp', targetPort: 80, publishedPort: 8080, publishMode: 'ingress' }],
  },
};

function update(opts: ServiceFlagValues, env: ParseEnvironment = KNOWN): ServiceSpec {
  return applyServiceUpdate(BASE, opts, env);
}

function errorOf(fn: () => unknown): { field: unknown; message: string } {
  try {
    fn();
  } catch (e) {
    if (!isSwarmError(e, 'INVALID_ARGUMENT')) throw e;
    return { field: (e as { field?: unknown }).field, message: e.message };
  }
  throw new Error('expected an INVALID_ARGUMENT error');
}

describe('service update --network-add / --network-rm', () => {
  it.each<[string, ServiceFlagValues, unknown]>([
    [
      '--network-add by name resolves to the id, sorted by target',
      { networkAdd: ['back'] },
      [{ target: BACK }, { target: FRONT }],
    ],
    [
      '--network-add name=…,alias=… keeps the aliases',
      { networkAdd: ['name=back,alias=db,alias=pg'] },
      [{ target: BACK, aliases: ['db', 'pg'] }, { target: FRONT }],
    ],
    ['--network-rm by name', { networkRm: ['front'] }, undefined],
    ['--network-rm by id prefix', { networkRm: ['f000000'] }, undefined],
    [
      '--network-rm of a network not attached is ignored (docker)',
      { networkRm: ['cache'] },
      [{ target: FRONT }],
    ],
    [
      'removals first: rm then add of the same network re-attaches it',
      { networkRm: ['front'], networkAdd: ['name=front,alias=web'] },
      [{ target: FRONT, aliases: ['web'] }],
    ],
  ])('%s', (_name, opts, networks) => {
    expect(update(opts).taskTemplate.networks).toEqual(networks);
  });

  it('leaves names it cannot resolve to the manager, and removes by id without the network list', () => {
    expect(update({ networkAdd: ['back'] }, {}).taskTemplate.networks).toEqual([
      { target: 'back' },
      { target: FRONT },
    ]);
    expect(update({ networkRm: [FRONT] }, {}).taskTemplate.networks).toBeUndefined();
  });

  it.each<[string, ServiceFlagValues, ParseEnvironment, string, RegExp]>([
    [
      'a network already attached',
      { networkAdd: ['front'] },
      KNOWN,
      '--network-add',
      /"front".*already attached to network front/,
    ],
    [
      'an attached network by id without the list',
      { networkAdd: [FRONT] },
      {},
      '--network-add',
      /already attached/,
    ],
    [
      'an unknown network to remove',
      { networkRm: ['nosuch'] },
      KNOWN,
      '--network-rm',
      /"nosuch".*network nosuch not found/,
    ],
    ['a name to remove without the list', { networkRm: ['front'] }, {}, '--network-rm', /"front"/],
    ['an empty name', { networkAdd: ['name=,alias=x'] }, KNOWN, '--network-add', /network name is empty/],
    [
      'an unknown field',
      { networkAdd: ['name=back,driver=x'] },
      KNOWN,
      '--network-add',
      /invalid field key driver/,
    ],
  ])('refuses %s, naming the flag and value', (_name, opts, env, field, message) => {
    const err = errorOf(() => update(opts, env));
    expect(err.field).toBe(field);
    expect(err.message).toMatch(message);
  });
});

describe('service update --publish-add / --publish-rm (docker forms)', () => {
  const ports = (opts: ServiceFlagValues) => update(opts).endpointSpec?.ports;

  it('adds P:T and the long form, sorted, skipping an identical entry', () => {
    expect(
      ports({ publishAdd: ['published=53,target=53,protocol=udp,mode=host', '9090:90', '8080:80'] }),
    ).toEqual([
      { protocol: 'udp', targetPort: 53, publishedPort: 53, publishMode: 'host' },
      { protocol: 'tcp', targetPort: 80, publishedPort: 8080, publishMode: 'ingress' },
      { protocol: 'tcp', targetPort: 90, publishedPort: 9090, publishMode: 'ingress' },
    ]);
  });

  it('removes by target port: T, T/proto or the long form; a port not published is ignored', () => {
    expect(ports({ publishRm: ['80'] })).toBeUndefined();
    expect(ports({ publishRm: ['published=8080,target=80'] })).toBeUndefined();
    expect(ports({ publishRm: ['80/udp', '81'] })).toEqual(BASE.endpointSpec?.ports);
  });

  it('refuses a published port used twice, naming --publish-add', () => {
    const err = errorOf(() => update({ publishAdd: ['8080:81'] }));
    expect(err.field).toBe('--publish-add');
    expect(err.message).toContain('8080/tcp');
  });
});
