export const LOG_LEVELS = ['DEBUG', 'INFO', 'WARNING', 'ERROR'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export type LogFields = Record<string, unknown>;

export type Logger = {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warning(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  log(level: LogLevel, msg: string, fields?: LogFields): void;
  /** Writes out anything buffered; call before exit. */
  flush(): void;
};

export type LoggerOptions = {
  level: LogLevel;
  /** Receives whole chunks of newline-terminated JSON lines. */
  sink?: (chunk: string) => void;
  clock?: () => Date;
  /** Buffer lines and write them once per event-loop turn (one syscall for a burst of requests). */
  buffered?: boolean;
};

const RANK: Record<LogLevel, number> = { DEBUG: 10, INFO: 20, WARNING: 30, ERROR: 40 };

/** One JSON object per line. `ts` and `level` come first so lines read well in a terminal too. */
export function createLogger(options: LoggerOptions): Logger {
  const sink = options.sink ?? ((chunk: string) => process.stdout.write(chunk));
  const clock = options.clock ?? (() => new Date());
  const threshold = RANK[options.level];
  let pending = '';
  let scheduled = false;

  const flush = (): void => {
    scheduled = false;
    if (pending === '') return;
    const chunk = pending;
    pending = '';
    sink(chunk);
  };

  const log = (level: LogLevel, msg: string, fields?: LogFields): void => {
    if (RANK[level] < threshold) return;
    const line = format({ ts: clock().toISOString(), level, msg }, fields) + '\n';
    if (!options.buffered) {
      sink(line);
      return;
    }
    pending += line;
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };

  return {
    debug: (msg, fields) => log('DEBUG', msg, fields),
    info: (msg, fields) => log('INFO', msg, fields),
    warning: (msg, fields) => log('WARNING', msg, fields),
    error: (msg, fields) => log('ERROR', msg, fields),
    log,
    flush,
  };
}

/**
 * What JSON.stringify leaves raw but a terminal or a log viewer acts on: DEL and the C1 controls (U+009B
 * starts an escape sequence), the line and paragraph separators, and the bidirectional marks, embeddings,
 * overrides and isolates that can make a line read differently from what it holds.
 */
const UNSAFE = /[\u007f-\u009f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** The entry's own keys win over fields of the same name; a field JSON cannot hold never loses the line. */
function format(head: { ts: string; level: LogLevel; msg: string }, fields: LogFields | undefined): string {
  const entry: LogFields = { ...head };
  for (const [key, value] of Object.entries(fields ?? {})) if (!(key in head)) entry[key] = value;
  let line: string;
  try {
    line = JSON.stringify(entry);
  } catch {
    return JSON.stringify({ ...head, log_error: 'fields could not be serialised' });
  }
  // Such characters can only sit inside JSON strings, where a \u escape means the same character.
  return line.replace(UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
