import { Metadata } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import type { ServiceSpec } from '../../api/index.js';
import { isSwarmError, ManualClock, SeededRandom } from '../../common/index.js';
import type { CallContext } from '../../rpc/index.js';
import { LocalProposer, MemoryStore } from '../store/index.js';
import { serviceHandlers } from './services.js';

/** The rollout side of the service handlers: UpdateService, RollbackService, PromoteService. */

const ctx: CallContext = {
  service: 'swarmctl.control.Control',
  method: 'test',
  peer: null,
  metadata: new Metadata(),
  signal: new AbortController().signal,
};

function setup() {
  const clock = new ManualClock(1_700_000_000_000);
  const random = new SeededRandom(3);
  const store = new MemoryStore({ clock, proposer: (s) => new LocalProposer(s) });
  const randomBytes = (n: number) => Uint8Array.from({ length: n }, () => random.int(0, 256));
  return { clock, store, api: serviceHandlers({ store, clock, randomBytes }) };
}

const spec: ServiceSpec = {
  name: 'web',
  mode: { type: 'replicated', replicas: 2 },
  taskTemplate: { container: { image: 'web:v1' } },
};

function withImage(s: ServiceSpec, image: string): ServiceSpec {
  return { ...s, taskTemplate: { ...s.taskTemplate, container: { image } } };
}

/** Created, then read back: the stored version is what UpdateService checks. */
async function create(api: ReturnType<typeof setup>['api']) {
  await api.CreateService({ spec }, ctx);
  return api.InspectService({ id: 'web' }, ctx);
}

async function version(api: ReturnType<typeof setup>['api']): Promise<number> {
  return (await api.InspectService({ id: 'web' }, ctx)).meta.version;
}

async function rejected(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (e) {
    if (isSwarmError(e)) return { code: e.code, message: e.message };
    throw e;
  }
  throw new Error('expected a rejection');
}

describe('service rollout API', () => {
  it('an image change starts an update: previous spec kept, version bumped, state updating', async () => {
    const { api, clock } = setup();
    await create(api);
    clock.advance(1_000);
    const updated = await api.UpdateService(
      { id: 'web', version: await version(api), spec: withImage(spec, 'web:v2') },
      ctx,
    );
    expect(updated.specVersion).toBe(2);
    expect(updated.previousSpec).toEqual(spec);
    expect(updated.status.updateStatus).toMatchObject({ state: 'updating', startedAt: clock.now() });
    // A replicas-only change does not start a rollout (the status stays as it was).
    const scaled = await api.UpdateService(
      {
        id: 'web',
        version: await version(api),
        spec: { ...updated.spec, mode: { type: 'replicated', replicas: 3 } },
      },
      ctx,
    );
    expect(scaled.status.updateStatus?.startedAt).toBe(updated.status.updateStatus?.startedAt);
  });

  it('with specVersion, only spec changes conflict (not the updater status writes)', async () => {
    const { api, store } = setup();
    const created = await create(api);
    await store.update((tx) =>
      tx.update('service', {
        ...created,
        status: { updateStatus: { state: 'updating', heldTasks: ['t1'] } },
      }),
    );
    const stale = created.meta.version;
    const byVersion = await rejected(
      api.UpdateService({ id: 'web', version: stale, spec: withImage(spec, 'web:v2') }, ctx),
    );
    expect(byVersion.code).toBe('VERSION_CONFLICT');
    const ok = await api.UpdateService(
      { id: 'web', version: stale, specVersion: 1, spec: withImage(spec, 'web:v2') },
      ctx,
    );
    expect(ok.specVersion).toBe(2);
    const again = await rejected(
      api.UpdateService({ id: 'web', version: stale, specVersion: 1, spec: withImage(spec, 'web:v3') }, ctx),
    );
    expect(again).toEqual({
      code: 'VERSION_CONFLICT',
      message: expect.stringMatching(/at version 2, not 1/),
    });
  });

  it('any update of a paused service resumes it', async () => {
    const { api, store } = setup();
    const created = await create(api);
    await store.update((tx) =>
      tx.update('service', {
        ...created,
        status: { updateStatus: { state: 'paused', failedTasks: ['t1'] } },
      }),
    );
    const resumed = await api.UpdateService(
      { id: 'web', version: await version(api), spec: { ...spec, labels: { a: 'b' } } },
      ctx,
    );
    expect(resumed.status.updateStatus?.state).toBe('updating');
    expect(resumed.status.updateStatus?.failedTasks).toBeUndefined();
  });

  it('RollbackService swaps spec and previous spec; without a previous spec it names the service', async () => {
    const { api } = setup();
    await create(api);
    const none = await rejected(api.RollbackService({ id: 'web' }, ctx));
    expect(none).toEqual({
      code: 'FAILED_PRECONDITION',
      message: expect.stringMatching(/service web has no previous spec/),
    });
    await api.UpdateService({ id: 'web', version: await version(api), spec: withImage(spec, 'web:v2') }, ctx);
    const rolled = await api.RollbackService({ id: 'web' }, ctx);
    expect(rolled.spec.taskTemplate.container.image).toBe('web:v1');
    expect(rolled.previousSpec?.taskTemplate.container.image).toBe('web:v2');
    expect(rolled.specVersion).toBe(3);
    expect(rolled.status.updateStatus?.state).toBe('rollback_started');
  });

  it('PromoteService only from the canary state', async () => {
    const { api, store } = setup();
    const created = await create(api);
    const refused = await rejected(api.PromoteService({ id: 'web' }, ctx));
    expect(refused.code).toBe('FAILED_PRECONDITION');
    expect(refused.message).toMatch(/update state: none/);
    await store.update((tx) =>
      tx.update('service', { ...created, status: { updateStatus: { state: 'canary', canarySince: 5 } } }),
    );
    const promoted = await api.PromoteService({ id: 'web' }, ctx);
    expect(promoted.status.updateStatus).toMatchObject({ state: 'updating', canaryPromoted: true });
    expect(promoted.status.updateStatus?.canarySince).toBeUndefined();
    expect((await rejected(api.PromoteService({ id: 'web' }, ctx))).message).toMatch(
      /update state: updating/,
    );
  });
});
