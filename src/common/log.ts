/** One logger interface, injected through deps; never a global. */
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Readonly<Record<string, string | number | boolean | null | undefined>>;

export interface Logger {
  trace(msg: string, fields?: LogFields): void;
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

const LEVELS: Record<LogLevel, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50 };

export interface LogRecord {
  time: number;
  level: LogLevel;
  msg: string;
  fields: LogFields;
}

export type LogSink = (record: LogRecord) => void;

class SinkLogger implements Logger {
  constructor(
    private readonly sink: LogSink,
    private readonly minLevel: number,
    private readonly bound: LogFields,
    private readonly now: () => number,
  ) {}

  private log(level: LogLevel, msg: string, fields?: LogFields): void {
    if (LEVELS[level] < this.minLevel) return;
    this.sink({ time: this.now(), level, msg, fields: fields ? { ...this.bound, ...fields } : this.bound });
  }

  trace(msg: string, fields?: LogFields): void {
    this.log('trace', msg, fields);
  }
  debug(msg: string, fields?: LogFields): void {
    this.log('debug', msg, fields);
  }
  info(msg: string, fields?: LogFields): void {
    this.log('info', msg, fields);
  }
  warn(msg: string, fields?: LogFields): void {
    this.log('warn', msg, fields);
  }
  error(msg: string, fields?: LogFields): void {
    this.log('error', msg, fields);
  }
  child(fields: LogFields): Logger {
    return new SinkLogger(this.sink, this.minLevel, { ...this.bound, ...fields }, this.now);
  }
}

export interface LoggerOptions {
  /** @default 'info' */
  level?: LogLevel;
  now?: () => number;
}

export function createLogger(sink: LogSink, options: LoggerOptions = {}): Logger {
  return new SinkLogger(sink, LEVELS[options.level ?? 'info'], {}, options.now ?? Date.now);
}

/** The daemon's format: one JSON object per line. */
export function jsonLineSink(write: (line: string) => void): LogSink {
  return (r) =>
    write(
      `${JSON.stringify({ time: new Date(r.time).toISOString(), level: r.level, msg: r.msg, ...r.fields })}\n`,
    );
}

/** The CLI's format: `level: message key=value …` for people. */
export function humanSink(write: (line: string) => void): LogSink {
  return (r) => {
    const extra = Object.entries(r.fields)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${typeof v === 'string' && /\s/.test(v) ? JSON.stringify(v) : String(v)}`)
      .join(' ');
    write(`${r.level}: ${r.msg}${extra ? ` ${extra}` : ''}\n`);
  };
}

export function isLogLevel(value: string): value is LogLevel {
  return value in LEVELS;
}

export const noopLogger: Logger = createLogger(() => {}, { level: 'error' });

/** A logger that keeps its records, for tests that assert on what was logged. */
export function captureLogger(level: LogLevel = 'trace'): { logger: Logger; records: LogRecord[] } {
  const records: LogRecord[] = [];
  return { logger: createLogger((r) => records.push(r), { level }), records };
}
