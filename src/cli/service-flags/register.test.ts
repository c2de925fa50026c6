import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { isSwarmError } from '../../common/index.js';
import { parseServiceCreate } from './create.js';
import { CREATE_FLAGS, UPDATE_FLAGS } from './flag-table.js';
import type { NodeUpdateFlagValues, ServiceFlagValues } from './options.js';
import {
  registerNodeUpdateFlags,
  registerServiceCreateFlags,
  registerServiceScaleFlags,
  registerServiceUpdateFlags,
} from './register.js';

interface Parsed {
  readonly opts: Record<string, unknown>;
  readonly args: unknown[];
}

/** Builds `swarmctl service <verb>` the way the lead will, and returns what the action received. */
async function run(
  verb: 'create' | 'update' | 'scale' | 'node-update',
  argv: readonly string[],
): Promise<Parsed> {
  const root = new Command('swarmctl')
    .exitOverride()
    .configureOutput({ writeErr: () => {}, writeOut: () => {} });
  const parent = root.command(verb === 'node-update' ? 'node' : 'service').exitOverride();
  const cmd = parent.command(verb === 'node-update' ? 'update' : verb).exitOverride();
  let parsed: Parsed | undefined;
  const register = {
    create: registerServiceCreateFlags,
    update: registerServiceUpdateFlags,
    scale: registerServiceScaleFlags,
    'node-update': registerNodeUpdateFlags,
  }[verb];
  register(cmd).action((...a: unknown[]) => {
    const command = a[a.length - 1] as Command;
    parsed = { opts: command.opts(), args: a.slice(0, -2) };
  });
  await root.parseAsync(
    [verb === 'node-update' ? 'node' : 'service', verb === 'node-update' ? 'update' : verb, ...argv],
    {
      from: 'user',
    },
  );
  if (!parsed) throw new Error('action did not run');
  return parsed;
}

describe('registerServiceCreateFlags', () => {
  it('collects repeatable flags, short forms and positionals; options stop at IMAGE', async () => {
    const p = await run('create', [
      '--name',
      'web',
      '-e',
      'A=1',
      '--env',
      'B=2',
      '-l',
      'x=y',
      '-p',
      '8080:80',
      '--replicas',
      '-1',
      '-d',
      'busybox',
      'sh',
      '-c',
      'echo --name && sleep 1',
    ]);
    expect(p.opts).toEqual({
      name: 'web',
      env: ['A=1', 'B=2'],
      label: ['x=y'],
      publish: ['8080:80'],
      replicas: '-1',
      detach: true,
      healthcheck: true,
    });
    expect(p.args).toEqual(['busybox', ['sh', '-c', 'echo --name && sleep 1']]);
  });

  it.each<[readonly string[], Partial<ServiceFlagValues>]>([
    [['--detach=false'], { detach: false }],
    [['--detach=true'], { detach: true }],
    [['--detach=0'], { detach: false }],
    [['-d'], { detach: true }],
    [['-dq'], { detach: true, quiet: true }],
    [['--quiet=false'], { quiet: false }],
    [['--init=false'], { init: false }],
    [['--init'], { init: true }],
    [['--no-healthcheck'], { healthcheck: false }],
    [['--no-healthcheck=true'], { healthcheck: false }],
    [['--no-healthcheck=false'], { healthcheck: true }],
    [['--name', '--detach=false'], { name: '--detach=false', healthcheck: true }],
  ])('booleans take docker values: %j', async (flags, expected) => {
    const p = await run('create', [...flags, 'nginx']);
    expect(p.opts).toEqual({ healthcheck: true, ...expected });
  });

  it('leaves --detach=false after IMAGE to the container', async () => {
    const p = await run('create', ['nginx', 'app', '--detach=false']);
    expect(p.opts).toEqual({ healthcheck: true });
    expect(p.args).toEqual(['nginx', ['app', '--detach=false']]);
  });

  it('refuses a bad boolean value naming the flag', async () => {
    const e = await run('create', ['--detach=maybe', 'nginx']).catch((err: unknown) => err);
    expect(isSwarmError(e, 'INVALID_ARGUMENT') && [e.details.field, e.message]).toEqual([
      '--detach',
      'invalid argument "maybe" for "-d, --detach" flag: invalid boolean value "maybe"',
    ]);
  });

  it('refuses unknown flags (commander)', async () => {
    const e = await run('create', ['--replica', '3', 'nginx']).catch((err: unknown) => err);
    expect(e instanceof Error && e.message).toBe(
      "error: unknown option '--replica'\n(Did you mean --replicas?)",
    );
  });

  it('feeds parseServiceCreate end to end', async () => {
    const p = await run('create', [
      '--name',
      'web',
      '--replicas',
      '6',
      '--publish',
      'published=8080,target=80,mode=host',
      'web:v1',
    ]);
    const spec = parseServiceCreate(p.opts as ServiceFlagValues, [
      p.args[0] as string,
      ...(p.args[1] as string[]),
    ]);
    expect(spec).toEqual({
      name: 'web',
      mode: { type: 'replicated', replicas: 6 },
      taskTemplate: { container: { image: 'web:v1' } },
      endpointSpec: {
        mode: 'vip',
        ports: [{ protocol: 'tcp', targetPort: 80, publishedPort: 8080, publishMode: 'host' }],
      },
    });
  });

  it('lists every docker flag in help, sorted, with its type and short form', () => {
    const cmd = registerServiceCreateFlags(new Command('service').command('create'));
    const help = cmd.helpInformation();
    expect(help).toContain('Usage: service create [OPTIONS] IMAGE [COMMAND] [ARG...]');
    for (const f of CREATE_FLAGS) expect(help).toContain(`--${f.name}${f.type ? ` <${f.type}>` : ''}`);
    for (const s of [
      '-e, --env <list>',
      '-l, --label <list>',
      '-p, --publish <port>',
      '-w, --workdir <string>',
    ])
      expect(help).toContain(s);
    expect(help).toContain('--update-parallelism <uint>');
    expect(help.replace(/\s+/g, ' ')).toContain('(0 to update all at once) (default 1)');
    expect(help).not.toContain('--no-detach');
    const order = CREATE_FLAGS.map((f) => help.search(new RegExp(`\\n  (-\\w, )?--${f.name}\\b(?!-)`)));
    expect(order).not.toContain(-1);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
  });
});

describe('registerServiceUpdateFlags', () => {
  it('takes options anywhere around SERVICE (docker interspersed)', async () => {
    const p = await run('update', ['--env-add', 'A=1', 'web', '--env-rm', 'B', '--force', '--detach=false']);
    expect(p.args).toEqual(['web']);
    expect(p.opts).toEqual({ envAdd: ['A=1'], envRm: ['B'], force: true, detach: false, healthcheck: true });
  });

  it('has the update-only flags and not the create-only ones', () => {
    const help = registerServiceUpdateFlags(new Command('service').command('update')).helpInformation();
    for (const f of UPDATE_FLAGS) expect(help).toContain(`--${f.name}`);
    for (const f of ['--mode', '--name ', '--env-file', '--constraint <', '--mount <'])
      expect(help).not.toContain(f);
  });
});

describe('registerServiceScaleFlags / registerNodeUpdateFlags', () => {
  it('scale takes NAME=N operands and -d', async () => {
    const p = await run('scale', ['-d', 'web=3', 'api=2']);
    expect(p.args).toEqual([['web=3', 'api=2']]);
    expect(p.opts).toEqual({ detach: true });
  });

  it('node update', async () => {
    const p = await run('node-update', [
      '--availability',
      'drain',
      '--label-add',
      'a=b',
      '--label-rm',
      'c',
      'n1',
    ]);
    expect(p.args).toEqual(['n1']);
    expect(p.opts as NodeUpdateFlagValues).toEqual({
      availability: 'drain',
      labelAdd: ['a=b'],
      labelRm: ['c'],
    });
  });
});
