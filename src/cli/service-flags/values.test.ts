import { describe, expect, it } from 'vitest';
import { isSwarmError } from '../../common/index.js';
import { parseMount } from './mount.js';
import { parsePublish } from './publish.js';
import {
  parseEnvFile,
  parseMemoryBytes,
  parseNanoCpus,
  parseRatio,
  parseUint,
  resolveEnvEntry,
  splitShellWords,
} from './values.js';

function errorOf(fn: () => unknown): { field: unknown; message: string } {
  try {
    fn();
  } catch (e) {
    if (isSwarmError(e, 'INVALID_ARGUMENT')) return { field: e.details.field, message: e.message };
    throw e;
  }
  throw new Error('expected an InvalidArgumentError');
}

describe('memory sizes (docker RAMInBytes)', () => {
  it.each([
    ['0', 0],
    ['1048576', 1048576],
    ['512b', 512],
    ['1k', 1024],
    ['1kb', 1024],
    ['1KiB', 1024],
    ['512m', 512 * 1024 ** 2],
    ['512M', 512 * 1024 ** 2],
    ['1g', 1024 ** 3],
    ['1.5GB', 1.5 * 1024 ** 3],
    ['2 g', 2 * 1024 ** 3],
    ['1t', 1024 ** 4],
  ])('%s → %i bytes', (input, bytes) => {
    expect(parseMemoryBytes('reserve-memory', input)).toBe(bytes);
  });

  it.each([
    ['1x', `invalid argument "1x" for "--reserve-memory" flag: invalid suffix: 'x'`],
    ['1gbb', `invalid argument "1gbb" for "--reserve-memory" flag: invalid suffix: 'gbb'`],
    ['1mx', `invalid argument "1mx" for "--reserve-memory" flag: invalid suffix: 'mx'`],
    ['-1', `invalid argument "-1" for "--reserve-memory" flag: invalid size: '-1'`],
    ['', `invalid argument "" for "--reserve-memory" flag: invalid size: ''`],
    ['g', `invalid argument "g" for "--reserve-memory" flag: invalid size: 'g'`],
  ])('%j is refused', (input, message) => {
    expect(errorOf(() => parseMemoryBytes('reserve-memory', input))).toEqual({
      field: '--reserve-memory',
      message,
    });
  });
});

describe('CPUs (nano-CPUs, exact)', () => {
  it.each([
    ['0.5', 500_000_000],
    ['1', 1_000_000_000],
    ['1.5', 1_500_000_000],
    ['.25', 250_000_000],
    ['0.000000001', 1],
    ['1/4', 250_000_000],
    ['16', 16_000_000_000],
  ])('%s → %i', (input, nano) => {
    expect(parseNanoCpus('limit-cpu', input)).toBe(nano);
  });

  it.each([
    ['abc', 'failed to parse abc as a rational number'],
    ['-1', 'failed to parse -1 as a rational number'],
    ['0.0000000001', 'value is too precise'],
    ['1/3', 'value is too precise'],
    ['1/0', 'failed to parse 1/0 as a rational number'],
    ['.', 'failed to parse . as a rational number'],
  ])('%j is refused: %s', (input, reason) => {
    expect(errorOf(() => parseNanoCpus('limit-cpu', input))).toEqual({
      field: '--limit-cpu',
      message: `invalid argument ${JSON.stringify(input)} for "--limit-cpu" flag: ${reason}`,
    });
  });
});

describe('numbers', () => {
  it.each([
    ['0', 0],
    ['3', 3],
    ['007', 7],
  ])('uint %s', (input, n) => {
    expect(parseUint('replicas', input)).toBe(n);
  });

  it.each(['-1', '1.5', 'x', '', '99999999999999999999'])('uint %j is refused', (input) => {
    expect(errorOf(() => parseUint('replicas', input)).message).toMatch(
      new RegExp(
        `^invalid argument ${JSON.stringify(input).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} for "--replicas" flag: `,
      ),
    );
  });

  it.each([
    ['0', 0],
    ['0.25', 0.25],
    ['1', 1],
    ['.5', 0.5],
  ])('ratio %s', (input, n) => {
    expect(parseRatio('update-max-failure-ratio', input)).toBe(n);
  });

  it.each(['1.5', '-0.1', 'x'])('ratio %j is refused', (input) => {
    expect(errorOf(() => parseRatio('update-max-failure-ratio', input))).toEqual({
      field: '--update-max-failure-ratio',
      message: `invalid argument ${JSON.stringify(input)} for "--update-max-failure-ratio" flag: must be a number between 0 and 1`,
    });
  });
});

describe('shell words', () => {
  it.each([
    ['', []],
    ['nginx -g "daemon off;"', ['nginx', '-g', 'daemon off;']],
    ["sh -c 'echo $HOME'", ['sh', '-c', 'echo $HOME']],
    ['a\\ b c', ['a b', 'c']],
    ['"a\\"b"', ['a"b']],
    ['"a\\nb"', ['a\\nb']],
    ['  spaced   out  ', ['spaced', 'out']],
    ['""', ['']],
  ])('%j → %j', (input, words) => {
    expect(splitShellWords('entrypoint', input)).toEqual(words);
  });

  it.each([
    ['"open', 'EOF found when expecting closing quote'],
    ['trailing\\', 'EOF found after escape character'],
  ])('%j is refused', (input, reason) => {
    expect(errorOf(() => splitShellWords('args', input)).message).toBe(
      `invalid argument ${JSON.stringify(input)} for "--args" flag: ${reason}`,
    );
  });
});

describe('environment', () => {
  const env = {
    lookupEnv: (name: string) => (name === 'HOME' ? '/root' : undefined),
    readFile: (path: string) => {
      if (path === 'app.env') return '# comment\n\nA=1\n  B=two words\nHOME\nMISSING\n';
      if (path === 'bad.env') return 'GOOD=1\nBAD KEY=2\n';
      throw new Error(`open ${path}: no such file or directory`);
    },
  };

  it.each([
    ['K=V', 'K=V'],
    ['K=', 'K='],
    ['K=a=b', 'K=a=b'],
    ['HOME', 'HOME=/root'],
    ['MISSING', 'MISSING'],
  ])('-e %s → %s', (input, entry) => {
    expect(resolveEnvEntry('env', input, env)).toBe(entry);
  });

  it('refuses an empty name', () => {
    expect(errorOf(() => resolveEnvEntry('env', '=x', env))).toEqual({
      field: '--env',
      message: 'invalid argument "=x" for "-e, --env" flag: invalid environment variable: empty name',
    });
  });

  it('reads env files like docker', () => {
    expect(parseEnvFile('env-file', 'app.env', env)).toEqual(['A=1', 'B=two words', 'HOME=/root', 'MISSING']);
  });

  it.each([
    ['bad.env', "line 2: variable 'BAD KEY' contains whitespaces or is empty"],
    ['none.env', 'open none.env: no such file or directory'],
  ])('env file %s is refused', (path, reason) => {
    expect(errorOf(() => parseEnvFile('env-file', path, env)).message).toBe(
      `invalid argument "${path}" for "--env-file" flag: ${reason}`,
    );
  });
});

describe('--mount', () => {
  it.each([
    ['type=bind,source=/a,target=/b,readonly', { type: 'bind', source: '/a', target: '/b', readOnly: true }],
    ['type=bind,src=/a,dst=/b,ro=false', { type: 'bind', source: '/a', target: '/b' }],
    [
      'type=bind,source=/a,target=/b,bind-propagation=rshared',
      { type: 'bind', source: '/a', target: '/b', bindOptions: { propagation: 'rshared' } },
    ],
    ['source=data,target=/data', { type: 'volume', source: 'data', target: '/data' }],
    ['target=/anon', { type: 'volume', target: '/anon' }],
    [
      'type=volume,source=v,destination=/v,volume-nocopy,volume-label=a=b,volume-driver=nfs,volume-opt=o=x',
      {
        type: 'volume',
        source: 'v',
        target: '/v',
        volumeOptions: { noCopy: true, labels: { a: 'b' }, driver: { name: 'nfs', options: { o: 'x' } } },
      },
    ],
    [
      'type=tmpfs,target=/t,tmpfs-size=64m,tmpfs-mode=1770',
      { type: 'tmpfs', target: '/t', tmpfsOptions: { sizeBytes: 64 * 1024 ** 2, mode: 0o1770 } },
    ],
    ['TYPE=TMPFS,Target=/t', { type: 'tmpfs', target: '/t' }],
    ['"type=bind","source=/a,b",target=/c', { type: 'bind', source: '/a,b', target: '/c' }],
  ])('%s', (input, mount) => {
    expect(parseMount('mount', input)).toEqual(mount);
  });

  it.each([
    ['', 'value is empty'],
    ['type=bind,source=/a', 'target is required'],
    ['type=bind,target=/b', 'source is required when specifying bind mounts'],
    ['type=bind,source=rel,target=/b', 'invalid bind source, must be an absolute path: rel'],
    ['type=volume,target=rel', 'invalid mount target, must be an absolute path: rel'],
    ['type=nfs,target=/b', "invalid mount type 'nfs': must be bind, volume or tmpfs"],
    ['type=tmpfs,source=x,target=/t', 'source must not be specified for tmpfs mounts'],
    ['type=volume,target=/t,tmpfs-size=1m', "cannot mix 'tmpfs-*' options with mount type 'volume'"],
    ['type=bind,source=/a,target=/b,volume-nocopy', "cannot mix 'volume-*' options with mount type 'bind'"],
    ['type=volume,target=/b,bind-propagation=shared', "cannot mix 'bind-*' options with mount type 'volume'"],
    ['type=tmpfs,target=/t,tmpfs-size=1x', 'invalid value for tmpfs-size: 1x'],
    ['type=tmpfs,target=/t,tmpfs-mode=999', 'invalid value for tmpfs-mode: 999'],
    [
      'target=/b,readonly=maybe',
      `invalid value for 'readonly': invalid boolean value ("maybe"): must be one of "true", "1", "false", or "0" (default "true")`,
    ],
    ['target=/b,size=1', "unknown option 'size' in 'size=1'"],
    ['target=/b,nokey', "invalid field 'nokey' must be a key=value pair"],
    ['target=', "invalid value for 'target': value is empty"],
    ['type=bind,source=/a,target=/b,bind-propagation=weird', 'invalid value for bind-propagation: weird'],
  ])('%j is refused: %s', (input, reason) => {
    expect(errorOf(() => parseMount('mount', input))).toEqual({
      field: '--mount',
      message: `invalid argument ${JSON.stringify(input)} for "--mount" flag: ${reason}`,
    });
  });
});

describe('--publish', () => {
  const port = (publishedPort: number, targetPort: number, protocol = 'tcp', publishMode = 'ingress') => ({
    protocol,
    targetPort,
    publishedPort,
    publishMode,
  });

  it.each([
    ['published=8080,target=80', [port(8080, 80)]],
    ['published=8080,target=80,protocol=udp,mode=host', [port(8080, 80, 'udp', 'host')]],
    ['target=80,mode=host', [port(0, 80, 'tcp', 'host')]],
    ['8080:80', [port(8080, 80)]],
    ['8080:80/udp', [port(8080, 80, 'udp')]],
    ['80', [port(0, 80)]],
    ['8000-8001:80-81', [port(8000, 80), port(8001, 81)]],
  ])('%s', (input, ports) => {
    expect(parsePublish('publish', input)).toEqual(ports);
  });

  it.each([
    ['published=80', "missing mandatory field 'target'"],
    ['target=80,protocol=sctp', "invalid protocol value 'sctp'"],
    ['target=80,mode=bridge', "invalid publish mode value (bridge): must be either 'ingress' or 'host'"],
    ['target=x80', 'invalid target port (x80): value must be an integer between 0 and 65535'],
    [
      'target=80,published=70000',
      'invalid published port (70000): value must be an integer between 0 and 65535',
    ],
    ['target=80,color=red', 'invalid field key: color'],
    ['80:abc', 'invalid containerPort: abc'],
    ['127.0.0.1:80:80', 'hostip is not supported'],
    ['80:80/icmp', 'invalid proto: icmp'],
    ['8000-8002:80-81', 'port ranges of the published and target ports must have the same size'],
  ])('%j is refused: %s', (input, reason) => {
    expect(errorOf(() => parsePublish('publish', input))).toEqual({
      field: '--publish',
      message: `invalid argument ${JSON.stringify(input)} for "-p, --publish" flag: ${reason}`,
    });
  });
});
