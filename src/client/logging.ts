/**
 * Structured logging with pino. Every record passes through the same redaction as stored
 * arguments, API keys are masked to a prefix, and signing secrets and authorization headers are
 * removed — whatever the caller put in the record. Logging never holds up the process: a sink
 * that stalls or fails loses lines (counted, see {@link droppedLogLines}).
 */
import { pino, type DestinationStream, type Logger, type LevelWithSilent } from 'pino';
import { FdLogSink, GuardedDestination, type CountingDestination } from './log-sink.js';
import { Redactor, REDACTED } from '../core/redact.js';

/** Logging options of the client (pino's surface, trimmed to what we support). */
export interface LoggingOptions {
  /** Minimum level. Default `info`. */
  logLevel?: LevelWithSilent;
  /** JSON lines (default) or a compact human-readable line per record. */
  jsonLogs?: boolean;
  /**
   * Where to write. Default stderr, so a CLI agent's stdout stays clean; written without ever
   * blocking: when stderr stops draining, lines beyond 1 MiB are dropped.
   */
  destination?: DestinationStream;
  /** Extra secret paths (same syntax as the client's `redact`). */
  redact?: readonly string[];
  /** A ready logger to use instead (its redaction is then yours to configure). */
  logger?: Logger;
}

/** Create the logger the client and CLI use. */
export function createLogger(options: LoggingOptions = {}): Logger {
  if (options.logger) return options.logger;
  const redactor = new Redactor(options.redact ?? [], { maskApiKeys: true });
  const supplied = options.destination;
  let sink: DestinationStream;
  let counting: CountingDestination | undefined;
  if (supplied === undefined) sink = counting = new FdLogSink({ fd: 2 });
  // A pino multistream reads per-record metadata off its own object: it must be given as it is.
  else if (needsPinoMetadata(supplied)) sink = supplied;
  else sink = counting = new GuardedDestination(supplied);
  // Human-readable output formats the already-redacted JSON line, so redaction applies to both.
  const destination = options.jsonLogs === false ? readableLines(sink) : sink;
  if (counting) DROP_COUNTS.set(destination, counting);
  return pino(
    {
      level: options.logLevel ?? 'info',
      base: { name: 'ascend' },
      formatters: {
        // Runs on every record, whatever the caller put in it.
        log: (record) => redactor.redact(record),
      },
    },
    destination,
  );
}

/** The counting sink behind each destination handed to pino. */
const DROP_COUNTS = new WeakMap<object, { readonly droppedLines: number }>();

/**
 * Log lines `logger` (or the logger it is a child of) lost because its sink failed or could not
 * keep up. 0 for a logger not made by {@link createLogger}.
 */
export function droppedLogLines(logger: Logger): number {
  const stream = (logger as unknown as Record<symbol, unknown>)[pino.symbols.streamSym];
  return typeof stream === 'object' && stream !== null ? (DROP_COUNTS.get(stream)?.droppedLines ?? 0) : 0;
}

function needsPinoMetadata(destination: DestinationStream): boolean {
  return (destination as unknown as Record<symbol, unknown>)[Symbol.for('pino.metadata')] === true;
}

const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

/** Re-format pino's JSON lines as `HH:MM:SS.mmm LEVEL message key=value …`. */
function readableLines(sink: DestinationStream & Partial<Pick<CountingDestination, 'flush' | 'flushSync'>>): DestinationStream & Pick<CountingDestination, 'flush' | 'flushSync'> {
  return {
    flush(done?: (err?: Error) => void): void {
      if (typeof sink.flush === 'function') sink.flush(done);
      else done?.();
    },
    flushSync(): void {
      if (typeof sink.flushSync === 'function') sink.flushSync();
    },
    write(line: string): void {
      let record: Record<string, unknown>;
      try {
        record = JSON.parse(line) as Record<string, unknown>;
      } catch {
        sink.write(line);
        return;
      }
      const { level, time, msg, name: _name, pid: _pid, hostname: _host, ...rest } = record;
      const clock = typeof time === 'number' ? new Date(time).toISOString().slice(11, 23) : '';
      const fields = Object.entries(rest)
        .map(([k, v]) => `${k}=${k === 'err' ? readableError(v) : typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(' ');
      sink.write(`${clock} ${LEVEL_NAMES[level as number] ?? String(level)} ${String(msg ?? '')}${fields ? ' ' + fields : ''}\n`);
    },
  };
}

/**
 * An error as a person reads it: `"code: message"`. Errors are logged as `{ code, message }`
 * objects, which pino's serializer turns into `{ type: "Object", …, stack: "" }`.
 */
function readableError(err: unknown): string {
  if (typeof err !== 'object' || err === null) return JSON.stringify(err);
  const { code, message } = err as { code?: unknown; message?: unknown };
  if (typeof message !== 'string') return JSON.stringify(err);
  return JSON.stringify(typeof code === 'string' && code !== '' ? `${code}: ${message}` : message);
}

export { REDACTED };
export type { Logger };
