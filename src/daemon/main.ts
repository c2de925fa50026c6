import { randomBytes } from 'node:crypto';
import {
  createLogger,
  errorMessage,
  isLogLevel,
  jsonLineSink,
  SeededRandom,
  systemClock,
} from '../common/index.js';
import { resolveDaemonConfig, testingCaLimits } from './config.js';
import { Daemon, type DaemonStart } from './daemon.js';

/**
 * The node process: flags in, a Daemon running until SIGTERM/SIGINT (or leave), exit code out.
 * Logs are JSON lines on stderr (init/join point stderr at the state directory's daemon.log).
 */
export async function runDaemon(flags: Record<string, string | boolean | undefined>): Promise<number> {
  const str = (k: string): string | undefined =>
    typeof flags[k] === 'string' ? (flags[k] as string) : undefined;
  let config: ReturnType<typeof resolveDaemonConfig>;
  try {
    config = resolveDaemonConfig(
      {
        stateDir: str('stateDir'),
        controlSocket: str('controlSocket'),
        listenAddr: str('listenAddr'),
        advertiseAddr: str('advertiseAddr'),
        dockerHost: str('dockerHost'),
        availability: str('availability'),
        logLevel: str('logLevel'),
        dataPlane: str('dataPlane'),
      },
      process.env,
    );
    const caLimits = testingCaLimits(process.env);
    if (caLimits) config = { ...config, caLimits };
  } catch (e) {
    process.stderr.write(`Error: ${errorMessage(e)}\n`);
    return 1;
  }
  const level = isLogLevel(config.logLevel) ? config.logLevel : 'info';
  const logger = createLogger(
    jsonLineSink((l) => process.stderr.write(l)),
    { level },
  );
  const start: DaemonStart = flags.init
    ? {
        kind: 'init',
        autolock: flags.autolock === true,
        ...(str('certExpiry') ? { certExpiryMs: Number(str('certExpiry')) } : {}),
        ...(str('defaultAddrPool')
          ? {
              defaultAddrPool: {
                subnets: str('defaultAddrPool')!.split(','),
                maskLength: Number(str('defaultAddrPoolMaskLength') ?? '24'),
              },
            }
          : {}),
      }
    : str('joinToken')
      ? { kind: 'join', token: str('joinToken')!, remote: str('joinRemote') ?? '' }
      : { kind: 'run' };
  const daemon = new Daemon(
    {
      clock: systemClock,
      random: new SeededRandom(randomBytes(4).readUInt32LE(0)),
      randomBytes: (n) => randomBytes(n),
      logger,
    },
    config,
    start,
  );
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  try {
    await daemon.run(stop.signal);
    return 0;
  } catch (e) {
    logger.error('node stopped on an error', { error: errorMessage(e) });
    process.stderr.write(`Error: ${errorMessage(e)}\n`);
    return 1;
  }
}
