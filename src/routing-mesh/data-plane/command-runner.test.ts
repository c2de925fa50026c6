import { describe, expect, it } from 'vitest';
import { COMMAND_TIMED_OUT, createCommandRunner } from './command-runner.js';

describe('the system command runner', () => {
  it('returns a command’s exit code and output', async () => {
    const run = createCommandRunner();
    expect(await run(['sh', '-c', 'cat; echo err >&2; exit 3'], 'in')).toEqual({
      code: 3,
      stdout: 'in',
      stderr: 'err\n',
    });
    expect((await run(['no-such-program-swarmctl'])).code).toBe(127);
  });

  it('kills a command that hangs at its bound and reports it failed, naming it', async () => {
    const run = createCommandRunner({ timeoutMs: 200 });
    const started = performance.now();
    const r = await run(['sleep', '30']);
    expect(r.code).toBe(COMMAND_TIMED_OUT);
    expect(r.stderr).toContain('sleep 30: killed after 200 ms');
    expect(performance.now() - started).toBeLessThan(10_000);
  });

  it('also when a child it started keeps the output pipes open', async () => {
    const run = createCommandRunner({ timeoutMs: 200 });
    const r = await run(['sh', '-c', 'sleep 30 & wait']);
    expect(r.code).toBe(COMMAND_TIMED_OUT);
  });

  it('refuses a bound that is not a positive whole number of ms, naming the field', () => {
    for (const bad of [0, -5, 1.5, Number.NaN])
      expect(() => createCommandRunner({ timeoutMs: bad }), String(bad)).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('timeoutMs') }),
      );
  });
});
