import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../src/common/index.js';
import { Lab } from '../harness/lab.js';
import { pingEngine } from '../harness/lab-engine.js';

// A prefix and subnet of its own, so a lab someone brought up by hand (default `swl`) survives.
const PREFIX = 'swlt';
const SUBNET = '10.213.1';

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8' });
}

/**
 * What of a lab the machine still holds, found with the plain tools rather than the lab's own
 * cleanup code, so the test does not grade that code with itself.
 */
function rawLeftovers(prefix: string): string[] {
  const found: string[] = [];
  const owned = (name: string): boolean => name.startsWith(`${prefix}-`);
  for (const line of sh('ip', ['netns', 'list']).split('\n')) {
    const name = line.split(' ')[0];
    if (name && owned(name)) found.push(`netns ${name}`);
  }
  for (const line of sh('ip', ['-o', 'link', 'show']).split('\n')) {
    const name = /^\d+:\s+([^:@\s]+)/.exec(line)?.[1];
    if (name && owned(name)) found.push(`link ${name}`);
  }
  for (const line of sh('iptables-save', []).split('\n')) {
    if (line.includes(`${prefix}-lab`)) found.push(`rule ${line}`);
  }
  for (const line of readFileSync('/proc/mounts', 'utf8').split('\n')) {
    const mp = line.split(' ')[1] ?? '';
    if (mp.includes(`/swarmctl-lab/${prefix}/`) || mp.startsWith(`/run/netns/${prefix}-`))
      found.push(`mount ${mp}`);
  }
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let cmdline = '';
    let environ = '';
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
      environ = readFileSync(`/proc/${pid}/environ`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    if (
      cmdline.includes(`/swarmctl-lab/${prefix}/`) ||
      environ.split('\0').includes(`SWARMCTL_LAB=${prefix}`)
    ) {
      found.push(`process ${pid} ${cmdline.slice(0, 100)}`);
    }
  }
  for (const dir of [`/run/swarmctl-lab/${prefix}`, `/var/lib/swarmctl-lab/${prefix}`]) {
    try {
      readdirSync(dir);
      found.push(`dir ${dir}`);
    } catch {
      // absent, as it should be
    }
  }
  return found;
}

async function expectNothingLeft(prefix: string): Promise<void> {
  expect(rawLeftovers(prefix)).toEqual([]);
  expect(await Lab.leftovers({ prefix })).toEqual({
    netns: [],
    links: [],
    rules: [],
    processes: [],
    mounts: [],
    cgroups: [],
    dirs: [],
  });
}

describe('lab', () => {
  let lab: Lab | undefined;

  afterAll(async () => {
    // Safety net when a test failed midway; a no-op after the teardown test.
    await Lab.cleanupStale({ prefix: PREFIX });
  });

  it('brings up three hosts, each with its own address and engine', async () => {
    lab = await Lab.up({ prefix: PREFIX, subnet: SUBNET, hosts: 3, images: ['swarmctl-test/web:v1'] });
    const status = await lab.status();
    expect(status.map((s) => [s.host.address, s.engineUp, s.linkUp])).toEqual([
      [`${SUBNET}.11`, true, true],
      [`${SUBNET}.12`, true, true],
      [`${SUBNET}.13`, true, true],
    ]);
    // Each engine runs inside its host: its docker0 carries that host's own bridge address.
    for (const n of [1, 2, 3]) {
      const addr = await lab.exec(n, ['ip', '-4', '-o', 'addr', 'show', 'docker0']);
      expect(addr.stdout).toContain(`10.214.${n}.1/24`);
    }
  });

  it('lets host 2 reach a container published on host 1 by host 1 lab address', async () => {
    const l = lab!;
    await l.dockerCli(1, ['run', '-d', '--name', 'web', '-p', '8080:80', 'swarmctl-test/web:v1']);
    // The container belongs to host 1's engine alone.
    expect((await l.dockerCli(2, ['ps', '-q'])).stdout.trim()).toBe('');
    const body = await waitFor(
      async () => {
        const r = await l.httpGet(2, `http://${l.host(1).address}:8080/`);
        return r.ok
          ? { done: true, value: r.body }
          : { done: false, state: `curl ${r.exitCode}: ${r.error}` };
      },
      { timeoutMs: 20_000, what: 'web v1 on host 1 to answer host 2' },
    );
    expect(body).toMatch(/^v1 [0-9a-f]{12}\n$/);
  });

  it('makes a cut host unreachable both ways until its link is healed', async () => {
    const l = lab!;
    const dir = join(l.host(3).dataDir, 'www');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'index.html'), 'host 3\n');
    l.startProcess(3, ['busybox', 'httpd', '-f', '-p', '8081', '-h', dir], { name: 'httpd' });
    const h3 = `http://${l.host(3).address}:8081/`;
    const h1 = `http://${l.host(1).address}:8080/`;
    const reachable = async (from: number, url: string): Promise<void> => {
      await waitFor(
        async () => {
          const r = await l.httpGet(from, url);
          return r.ok
            ? { done: true, value: undefined }
            : { done: false, state: `curl ${r.exitCode}: ${r.error}` };
        },
        { timeoutMs: 20_000, what: `${url} to answer host ${from}` },
      );
    };
    await reachable(1, h3);

    await l.cutLink(3);
    const [toCut, fromCut] = await Promise.all([l.httpGet(1, h3, 1_500), l.httpGet(3, h1, 1_500)]);
    expect(toCut).toMatchObject({ ok: false });
    expect(fromCut).toMatchObject({ ok: false });
    expect(toCut.elapsedMs).toBeLessThan(5_000);
    expect((await l.status())[2]?.linkUp).toBe(false);

    await l.healLink(3);
    await reachable(1, h3);
    await reachable(3, h1);
  });

  it('kills and restarts a process started on a host', async () => {
    const l = lab!;
    const url = `http://${l.host(3).address}:8081/`;
    expect(await l.killProcess(3, 'SIGKILL', { name: 'httpd' })).toBe(true);
    const refused = await l.httpGet(1, url);
    expect(refused).toMatchObject({ ok: false, exitCode: 7 });
    const restarted = await l.restartProcess(3, { name: 'httpd' });
    const body = await waitFor(
      async () => {
        const r = await l.httpGet(1, url);
        return r.ok
          ? { done: true, value: r.body }
          : { done: false, state: `curl ${r.exitCode}: ${r.error}` };
      },
      { timeoutMs: 20_000, what: 'restarted httpd on host 3 to answer' },
    );
    expect(body).toBe('host 3\n');
    expect((await l.status())[2]?.processes).toEqual([{ name: 'httpd', pid: restarted.pid, running: true }]);
  });

  it('kills a host engine and restarts it with its containers', async () => {
    const l = lab!;
    await l.killEngine(1);
    expect(await pingEngine(l.host(1).dockerSocket)).toBe(false);
    await l.restartEngine(1);
    expect(await pingEngine(l.host(1).dockerSocket)).toBe(true);
    const names = await l.dockerCli(1, ['ps', '-a', '--format', '{{.Names}}']);
    expect(names.stdout.trim()).toBe('web');
  });

  it('leaves no namespace, link, rule, process, mount or directory after teardown', async () => {
    await lab!.teardown();
    await expectNothingLeft(PREFIX);
    // Idempotent: a second teardown finds nothing to do and does not fail.
    await lab!.teardown();
    await expectNothingLeft(PREFIX);
  });
});

describe('Lab.cleanupStale', () => {
  const STALE = 'swls';

  afterAll(async () => {
    await Lab.cleanupStale({ prefix: STALE });
    await Lab.cleanupStale({ prefix: `${STALE}x` });
  });

  it('removes the remains of a `lab up` killed midway', async () => {
    const cli = join(import.meta.dirname, '../harness/lab-cli.ts');
    const repo = join(import.meta.dirname, '../..');
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', cli, '--prefix', STALE, '--subnet', '10.213.2', 'up', '2', '--no-images'],
      { cwd: repo, stdio: 'ignore' },
    );
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    // Kill it once its first engine answers: namespaces, bridge, rule and engines exist by then.
    await waitFor(
      async () =>
        (await pingEngine(`/run/swarmctl-lab/${STALE}/h1/docker.sock`, 500))
          ? { done: true, value: undefined }
          : { done: false, state: 'engine of h1 not answering yet' },
      { timeoutMs: 60_000, what: 'the killed run to have started an engine' },
    );
    child.kill('SIGKILL');
    await exited;
    expect(rawLeftovers(STALE).length).toBeGreaterThan(0);

    await Lab.cleanupStale({ prefix: STALE });
    await expectNothingLeft(STALE);
  });

  it('removes a half-made lab and only what carries its prefix', async () => {
    // By hand: a namespace with a process in it (no marker, found by its namespace), a bridge
    // and a rule; and a neighbour whose prefix merely starts the same way.
    sh('ip', ['netns', 'add', `${STALE}-h1`]);
    sh('ip', ['netns', 'add', `${STALE}x-h1`]);
    sh('ip', ['link', 'add', `${STALE}-br`, 'type', 'bridge']);
    sh('iptables', [
      '-w',
      '-I',
      'FORWARD',
      '-i',
      `${STALE}-br`,
      '-m',
      'comment',
      '--comment',
      `${STALE}-lab`,
      '-j',
      'ACCEPT',
    ]);
    const sleeper = spawn('nsenter', [`--net=/run/netns/${STALE}-h1`, '--', 'busybox', 'sleep', '600'], {
      stdio: 'ignore',
    });
    const sleeperExited = new Promise<void>((resolve) => sleeper.on('exit', () => resolve()));
    mkdirSync(`/run/swarmctl-lab/${STALE}/h1`, { recursive: true });

    await Lab.cleanupStale({ prefix: STALE });
    await sleeperExited;
    await expectNothingLeft(STALE);
    expect(sh('ip', ['netns', 'list'])).toContain(`${STALE}x-h1`);
  });
});
