import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { dataPlaneChosenBy, resolveDaemonConfig, settleDataPlane } from './config.js';
import { StateDir } from './state-dir.js';

describe('daemon config: the data plane choice', () => {
  it('is auto by default, taken from --data-plane, else from SWARMCTL_DATA_PLANE', () => {
    expect(resolveDaemonConfig({}, {}).dataPlane).toBe('auto');
    expect(resolveDaemonConfig({ dataPlane: 'userland' }, {}).dataPlane).toBe('userland');
    expect(resolveDaemonConfig({}, { SWARMCTL_DATA_PLANE: 'userland' }).dataPlane).toBe('userland');
    expect(
      resolveDaemonConfig({ dataPlane: 'nftables+vxlan' }, { SWARMCTL_DATA_PLANE: 'userland' }).dataPlane,
    ).toBe('nftables+vxlan');
  });

  it('refuses an unknown value, naming where it came from and the value', () => {
    expect(() => resolveDaemonConfig({ dataPlane: 'ipvs' }, {})).toThrow(
      'invalid --data-plane "ipvs": must be auto, nftables+vxlan, userland',
    );
    expect(() => resolveDaemonConfig({}, { SWARMCTL_DATA_PLANE: 'user' })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', field: 'SWARMCTL_DATA_PLANE' }),
    );
  });
});

describe('daemon config: the data plane choice across restarts', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
  });
  async function stateDir(): Promise<StateDir> {
    const root = await mkdtemp(join(tmpdir(), 'swarmctl-h5-dp-'));
    dirs.push(root);
    return new StateDir(root);
  }
  /** One daemon start: resolve flags and env, settle against the state directory, record. */
  async function start(dir: StateDir, flags: { dataPlane?: string }, env: Record<string, string> = {}) {
    const s = settleDataPlane(resolveDaemonConfig(flags, env), await dir.readDataPlane());
    if (s.persist) await dir.writeDataPlane(s.choice);
    return s;
  }

  it("records the first start's choice and keeps it on a restart without flag or environment", async () => {
    const dir = await stateDir();
    expect(await dir.readDataPlane()).toBeUndefined();
    expect(await start(dir, { dataPlane: 'userland' })).toEqual({
      choice: 'userland',
      chosenBy: '--data-plane',
      persist: true,
    });
    expect(await dir.readDataPlane()).toBe('userland');
    // The bug: a restart without --data-plane came back with auto.
    expect(await start(dir, {})).toEqual({ choice: 'userland', chosenBy: 'state directory', persist: false });
    expect(await start(dir, {}, { SWARMCTL_DATA_PLANE: 'userland' })).toEqual({
      choice: 'userland',
      chosenBy: 'SWARMCTL_DATA_PLANE',
      persist: false,
    });
    expect(await dir.readDataPlane()).toBe('userland');
  });

  it('records auto at a first start without a choice, so a later default start stays auto', async () => {
    const dir = await stateDir();
    expect(await start(dir, {})).toEqual({ choice: 'auto', chosenBy: 'default', persist: true });
    expect(JSON.parse(await readFile(dir.dataPlaneFile, 'utf8'))).toEqual({ format: 1, dataPlane: 'auto' });
    expect((await start(dir, {})).choice).toBe('auto');
  });

  it('lets an explicit flag or environment choice replace the remembered one, saying what changed', async () => {
    const dir = await stateDir();
    await start(dir, { dataPlane: 'userland' });
    expect(await start(dir, {}, { SWARMCTL_DATA_PLANE: 'nftables+vxlan' })).toEqual({
      choice: 'nftables+vxlan',
      chosenBy: 'SWARMCTL_DATA_PLANE',
      persist: true,
      changed: { from: 'userland', source: 'SWARMCTL_DATA_PLANE' },
    });
    expect(await start(dir, { dataPlane: 'auto' })).toEqual({
      choice: 'auto',
      chosenBy: '--data-plane',
      persist: true,
      changed: { from: 'nftables+vxlan', source: '--data-plane' },
    });
    expect(await dir.readDataPlane()).toBe('auto');
  });

  it("says in the node's status what made the choice", () => {
    expect(dataPlaneChosenBy({ choice: 'userland', chosenBy: '--data-plane' })).toBe('--data-plane userland');
    expect(dataPlaneChosenBy({ choice: 'userland', chosenBy: 'SWARMCTL_DATA_PLANE' })).toBe(
      'SWARMCTL_DATA_PLANE=userland',
    );
    expect(dataPlaneChosenBy({ choice: 'userland', chosenBy: 'state directory' })).toBe(
      "the state directory's record (userland)",
    );
  });

  it('refuses a damaged record instead of guessing, naming the file', async () => {
    const dir = await stateDir();
    for (const text of ['{"format":1,"dataPlane":"ipvs"}', 'not json', '{"dataPlane":"userland"}']) {
      await writeFile(dir.dataPlaneFile, text);
      await expect(dir.readDataPlane(), text).rejects.toMatchObject({
        code: 'CORRUPTION',
        message: expect.stringContaining('data-plane.json'),
      });
    }
  });
});
