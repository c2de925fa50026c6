import { describe, expect, it } from 'vitest';
import { SwarmError } from '../../common/index.js';
import type { CommandResult, CommandRunner } from './command-runner.js';
import {
  containerDefaultRoute,
  looseHostReversePath,
  preferIngressSource,
  restoreHostReversePath,
} from './container-source.js';

const NS = ['nsenter', '--net=/proc/4242/ns/net'];

/** Answers each command (after the nsenter prefix) from `answers`, recording what ran. */
function runner(answers: Record<string, Partial<CommandResult>>): { run: CommandRunner; ran: string[] } {
  const ran: string[] = [];
  const run: CommandRunner = async (argv) => {
    expect(argv.slice(0, 2)).toEqual(NS);
    const cmd = argv.slice(2).join(' ');
    ran.push(cmd);
    const a = answers[cmd] ?? {};
    return { code: a.code ?? 0, stdout: a.stdout ?? '', stderr: a.stderr ?? '' };
  };
  return { run, ran };
}

const SHOW = 'ip -j route show default';
const RP = 'sysctl -n net.ipv4.conf.all.rp_filter';

describe('preferIngressSource', () => {
  it('gives the default route the ingress address as its source, keeping gateway and device', async () => {
    const { run, ran } = runner({
      [SHOW]: { stdout: '[{"dst":"default","gateway":"10.214.1.1","dev":"eth0","flags":[]}]' },
      [RP]: { stdout: '0\n' },
    });
    await preferIngressSource(run, 4242, '10.0.0.8', await containerDefaultRoute(run, 4242));
    expect(ran).toEqual([SHOW, 'ip route replace default via 10.214.1.1 dev eth0 src 10.0.0.8', RP]);
  });

  it('changes nothing when the source is already the ingress address (a repeated start)', async () => {
    const { run, ran } = runner({
      [SHOW]: { stdout: '[{"dst":"default","gateway":"10.214.1.1","dev":"eth0","prefsrc":"10.0.0.8"}]' },
      [RP]: { stdout: '2\n' },
    });
    await preferIngressSource(run, 4242, '10.0.0.8', await containerDefaultRoute(run, 4242));
    expect(ran).toEqual([SHOW, RP]);
  });

  it('makes strict reverse-path filtering loose: answers to outbound traffic come in by the ingress', async () => {
    const { run, ran } = runner({
      [SHOW]: { stdout: '[{"dst":"default","gateway":"10.214.1.1","dev":"eth0","prefsrc":"10.0.0.8"}]' },
      [RP]: { stdout: '1\n' },
    });
    await preferIngressSource(run, 4242, '10.0.0.8', await containerDefaultRoute(run, 4242));
    expect(ran).toEqual([SHOW, RP, 'sysctl -q -w net.ipv4.conf.all.rp_filter=2']);
  });

  it('does nothing in a namespace without a default route', async () => {
    const { run, ran } = runner({ [SHOW]: { stdout: '[]' } });
    await preferIngressSource(run, 4242, '10.0.0.8', await containerDefaultRoute(run, 4242));
    expect(ran).toEqual([SHOW]);
  });

  it('fails with an IO error naming the pid and the command when one fails', async () => {
    const { run } = runner({
      [SHOW]: { stdout: '[{"dst":"default","gateway":"10.214.1.1","dev":"eth0"}]' },
      'ip route replace default via 10.214.1.1 dev eth0 src 10.0.0.8': {
        code: 2,
        stderr: 'Error: Nexthop has invalid gateway.',
      },
    });
    const route = await containerDefaultRoute(run, 4242);
    const e = await preferIngressSource(run, 4242, '10.0.0.8', route).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(SwarmError);
    expect((e as SwarmError).code).toBe('IO');
    expect((e as SwarmError).details).toEqual({
      pid: 4242,
      command: 'ip route replace default via 10.214.1.1 dev eth0 src 10.0.0.8',
    });
    expect((e as SwarmError).message).toContain('Nexthop has invalid gateway');
  });
});

/** Answers host commands from `answers`, recording what ran. */
function hostRunner(answers: Record<string, string>): { run: CommandRunner; ran: string[] } {
  const ran: string[] = [];
  const run: CommandRunner = async (argv) => {
    const cmd = argv.join(' ');
    ran.push(cmd);
    return { code: 0, stdout: answers[cmd] ?? '', stderr: '' };
  };
  return { run, ran };
}

describe('looseHostReversePath', () => {
  const HOLDER = 'ip -j -4 addr show to 10.214.1.1';
  const ALL = 'sysctl -n net/ipv4/conf/all/rp_filter';
  const DEV = 'sysctl -n net/ipv4/conf/docker0/rp_filter';

  it.each([
    ['strict everywhere', '1', '0', '0'],
    ['strict on the bridge only', '0', '1', '1'],
  ])(
    'makes the bridge holding the gateway loose when the mode there is strict (%s)',
    async (_, all, dev, before) => {
      const { run, ran } = hostRunner({
        [HOLDER]: '[{"ifname":"docker0"}]',
        [ALL]: `${all}\n`,
        [DEV]: `${dev}\n`,
      });
      expect(await looseHostReversePath(run, '10.214.1.1')).toEqual({ dev: 'docker0', before });
      expect(ran).toEqual([HOLDER, ALL, DEV, 'sysctl -q -w net/ipv4/conf/docker0/rp_filter=2']);
    },
  );

  it.each([
    ['off', '0', '0'],
    ['already loose on the bridge', '1', '2'],
    ['loose everywhere', '2', '0'],
  ])('changes nothing when the mode there is not strict (%s)', async (_, all, dev) => {
    const { run, ran } = hostRunner({ [HOLDER]: '[{"ifname":"docker0"}]', [ALL]: all, [DEV]: dev });
    expect(await looseHostReversePath(run, '10.214.1.1')).toBeUndefined();
    expect(ran).toEqual([HOLDER, ALL, DEV]);
  });

  it('changes nothing when no interface of the host holds the gateway', async () => {
    const { run, ran } = hostRunner({ [HOLDER]: '[]' });
    expect(await looseHostReversePath(run, '10.214.1.1')).toBeUndefined();
    expect(ran).toEqual([HOLDER]);
  });

  it('keeps an interface name with a dot as one part of the key, and puts the mode back', async () => {
    const { run, ran } = hostRunner({
      'ip -j -4 addr show to 10.9.0.1': '[{"ifname":"br.100"}]',
      [ALL]: '1',
      'sysctl -n net/ipv4/conf/br.100/rp_filter': '0',
    });
    const f = await looseHostReversePath(run, '10.9.0.1');
    await restoreHostReversePath(run, f!);
    expect(ran.slice(-2)).toEqual([
      'sysctl -q -w net/ipv4/conf/br.100/rp_filter=2',
      'sysctl -q -w net/ipv4/conf/br.100/rp_filter=0',
    ]);
  });
});
