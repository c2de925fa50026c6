import { spawnSync } from 'node:child_process';
import { constants } from 'node:os';
import { Command } from 'commander';
import { errorMessage } from '../../src/common/index.js';
import { Lab, type LabLayoutOptions } from './lab.js';
import { describeLeftovers, isClean } from './lab-cleanup.js';
import { listTestImages } from './lab-images.js';

// `npm run lab -- <command>`: the lab by hand. The prefix and subnet come from
// --prefix/--subnet or SWARMCTL_LAB_PREFIX/SWARMCTL_LAB_SUBNET (see docs/lab.md).

// `lab status | head` closes the pipe early: that is not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

const out = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

function hostNumber(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`host must be a number from 1, got ${JSON.stringify(value)}`);
  return n;
}

function isSignal(value: string): value is NodeJS.Signals {
  return value.startsWith('SIG') && value in constants.signals;
}

const program = new Command('lab')
  .description('multi-host test lab: network namespaces with their own Docker engines')
  .option(
    '--prefix <prefix>',
    'names of everything the lab makes start with this',
    process.env.SWARMCTL_LAB_PREFIX,
  )
  .option('--subnet <a.b.c>', 'the lab /24, first three octets', process.env.SWARMCTL_LAB_SUBNET)
  .enablePositionalOptions();

function layoutOptions(): LabLayoutOptions {
  const o = program.opts<{ prefix?: string; subnet?: string }>();
  return { ...(o.prefix ? { prefix: o.prefix } : {}), ...(o.subnet ? { subnet: o.subnet } : {}) };
}

/** Runs a command with the terminal attached and exits with its status. */
function passthrough(argv: string[]): void {
  const [file, ...args] = argv;
  if (file === undefined) throw new Error('no command given');
  const r = spawnSync(file, args, { stdio: 'inherit' });
  process.exitCode = r.status ?? 1;
}

async function printStatus(lab: Lab): Promise<void> {
  out(`lab ${lab.layout.prefix}: bridge ${lab.layout.bridge} ${lab.layout.bridgeAddress}/24`);
  for (const s of await lab.status()) {
    const procs = s.processes.map((p) => `${p.name}:${p.pid}${p.running ? '' : '(exited)'}`).join(' ');
    out(
      `  ${s.host.name}  ${s.host.address.padEnd(14)} netns ${s.host.netns}  engine ${s.engineUp ? 'up' : 'DOWN'}  ` +
        `link ${s.linkUp ? 'up' : 'CUT'}  DOCKER_HOST=${s.host.dockerHost}${procs ? `  procs ${procs}` : ''}`,
    );
  }
}

program
  .command('up')
  .argument('[hosts]', 'number of hosts', '3')
  .option('--no-images', 'do not load the test images into the engines')
  .description('build a lab (removing an earlier one with the same prefix)')
  .action(async (hosts: string, opts: { images: boolean }) => {
    const started = performance.now();
    const lab = await Lab.up({
      ...layoutOptions(),
      hosts: hostNumber(hosts),
      ...(opts.images ? {} : { images: [] }),
    });
    out(`up in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    await printStatus(lab);
  });

program
  .command('down')
  .description('remove everything carrying the prefix (also the remains of a crashed run)')
  .action(async () => {
    await Lab.cleanupStale(layoutOptions());
  });

program
  .command('status')
  .description('hosts, addresses, engines, links and started processes')
  .action(async () => {
    await printStatus(Lab.attach(layoutOptions()));
  });

program
  .command('leftovers')
  .description('list what of the lab exists on this machine; exits 1 if anything does')
  .action(async () => {
    const left = await Lab.leftovers(layoutOptions());
    out(describeLeftovers(left));
    if (!isClean(left)) process.exitCode = 1;
  });

program
  .command('exec')
  .argument('<host>', 'host number')
  .argument('<command...>', 'command and arguments')
  .description("run a command in a host's network namespace")
  .passThroughOptions()
  .action((host: string, command: string[]) => {
    passthrough([
      'nsenter',
      `--net=${Lab.attach(layoutOptions()).host(hostNumber(host)).netnsPath}`,
      '--',
      ...command,
    ]);
  });

program
  .command('docker')
  .argument('<host>', 'host number')
  .argument('<args...>', 'docker arguments')
  .description("run the docker CLI against a host's engine")
  .passThroughOptions()
  .action((host: string, args: string[]) => {
    passthrough(['docker', '-H', Lab.attach(layoutOptions()).host(hostNumber(host)).dockerHost, ...args]);
  });

program
  .command('cut')
  .argument('<host>', 'host number')
  .description("cut a host's link")
  .action(async (host: string) => {
    await Lab.attach(layoutOptions()).cutLink(hostNumber(host));
  });

program
  .command('heal')
  .argument('<host>', 'host number')
  .description("heal a host's link")
  .action(async (host: string) => {
    await Lab.attach(layoutOptions()).healLink(hostNumber(host));
  });

program
  .command('kill-engine')
  .argument('<host>', 'host number')
  .option('--signal <signal>', 'signal to send', 'SIGKILL')
  .description("kill a host's dockerd")
  .action(async (host: string, opts: { signal: string }) => {
    if (!isSignal(opts.signal)) throw new Error(`unknown signal ${JSON.stringify(opts.signal)}`);
    await Lab.attach(layoutOptions()).killEngine(hostNumber(host), opts.signal);
  });

program
  .command('restart-engine')
  .argument('<host>', 'host number')
  .description("restart a host's dockerd and wait until it answers")
  .action(async (host: string) => {
    await Lab.attach(layoutOptions()).restartEngine(hostNumber(host));
  });

program
  .command('load')
  .argument('<host>', "host number or 'all'")
  .argument('[images...]', 'images (default: every test image)')
  .description('load test images from the root engine into host engines')
  .action(async (host: string, images: string[]) => {
    const lab = Lab.attach(layoutOptions());
    await lab.loadImages(
      host === 'all' ? 'all' : hostNumber(host),
      images.length > 0 ? images : await listTestImages(),
    );
  });

program.parseAsync(process.argv).catch((e: unknown) => {
  process.stderr.write(`lab: ${errorMessage(e)}\n`);
  process.exitCode = 1;
});
