/**
 * Structured JSON logs, one line per event. Three rules keep secrets out, at any depth of the
 * fields (nested objects, arrays, a child logger's fields):
 * - fields whose name says they hold a secret are dropped, whatever the caller passes;
 * - errors are logged as name, code and message only, down the `cause` chain, never their bodies
 *   (an OAuth library attaches response bodies, which may hold tokens, as `cause`);
 * - bytes (a data key, a ciphertext) are logged as their length only.
 */
export type Level = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  debug(event: string, fields?: Record<string, unknown>): void;
  info(event: string, fields?: Record<string, unknown>): void;
  warn(event: string, fields?: Record<string, unknown>): void;
  error(event: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

export type LogSink = (line: string) => void;

const SECRET_FIELD = /token|secret|code|verifier|password|authorization|cookie|key$/i;
/* Fields whose names match the pattern above but hold no secret. */
const SAFE_FIELDS = new Set(['error', 'errorCode', 'status', 'statusCode', 'code_challenge_method', 'token_type', 'keyId', 'expiresAt', 'outcome']);

export function createLogger(options: { sink?: LogSink; level?: Level; base?: Record<string, unknown> } = {}): Logger {
  const sink = options.sink ?? ((line: string) => process.stdout.write(line + '\n'));
  const min = LEVELS[options.level ?? 'info'];
  const make = (base: Record<string, unknown>): Logger => {
    const emit = (level: Level, event: string, fields?: Record<string, unknown>) => {
      if (LEVELS[level] < min) return;
      // one object per line: the fields are cleaned into it (they override the base, as a spread would)
      const line: Record<string, unknown> = { time: isoNow(), level, event, ...base };
      if (fields) clean(fields, 0, [], line);
      sink(JSON.stringify(line));
    };
    return {
      debug: (e, f) => emit('debug', e, f),
      info: (e, f) => emit('info', e, f),
      warn: (e, f) => emit('warn', e, f),
      error: (e, f) => emit('error', e, f),
      child: (fields) => make({ ...base, ...clean(fields) }),
    };
  };
  return make(options.base ?? {});
}

/**
 * A sink for a long-running server: the lines of one turn of the event loop go out together, in
 * one `write`, before the process next waits for I/O, and whatever is queued at exit. A busy server
 * answers many requests in one turn, and each write to stdout is a system call that costs more than
 * the rest of an access line (about 30 µs on a small virtual machine, writing to a file).
 * Not for Lambda, whose sandbox is frozen once it has answered: there each line is written at once.
 */
export function batchedSink(write: (chunk: string) => void): LogSink {
  let queued = '';
  const flush = () => {
    if (queued === '') return;
    const chunk = queued;
    queued = '';
    write(chunk);
  };
  process.on('exit', flush);
  return (line) => {
    if (queued === '') setImmediate(flush);
    queued += line + '\n';
  };
}

const LEVELS: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

let lastMs = Number.NaN;
let lastIso = '';
/** The time of a line, ISO 8601: formatted once per millisecond (a busy server writes several lines in one). */
function isoNow(): string {
  const ms = Date.now();
  if (ms !== lastMs) {
    lastMs = ms;
    lastIso = new Date(ms).toISOString();
  }
  return lastIso;
}

/** Field names seen, and whether each may be logged: the same few names come in every line. */
const loggable = new Map<string, boolean>();
const MAX_REMEMBERED_NAMES = 1_000;

function mayLog(key: string): boolean {
  let ok = loggable.get(key);
  if (ok === undefined) {
    ok = !SECRET_FIELD.test(key) || SAFE_FIELDS.has(key);
    // bounded: names come from the code, but a nested value could bring names of its own
    if (loggable.size < MAX_REMEMBERED_NAMES) loggable.set(key, ok);
  }
  return ok;
}

/** Deeper than this a value is not logged: no log line needs it, and a cycle cannot loop. */
const MAX_DEPTH = 8;

/** The fields of `fields` that may be logged, cleaned, written into `out` (a new object unless given). */
function clean(fields: Record<string, unknown>, depth = 0, path: object[] = [], out: Record<string, unknown> = {}): Record<string, unknown> {
  // own enumerable string keys, as Object.entries lists them, without an array per field
  for (const key in fields) {
    if (!Object.hasOwn(fields, key)) continue;
    // a secret-named field is dropped at any depth, not only at the top
    if (!mayLog(key)) continue;
    out[key] = cleanValue(fields[key], depth, path);
  }
  return out;
}

function cleanValue(value: unknown, depth: number, path: object[]): unknown {
  if (value instanceof Error) return describeError(value);
  if (typeof value === 'bigint') return value.toString();
  if (typeof value !== 'object' || value === null) return value;
  // bytes are never logged, whatever their field is called: a data key or a ciphertext is bytes
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return `[${value.byteLength} bytes]`;
  if (path.includes(value)) return '[circular]';
  if (depth >= MAX_DEPTH) return '[too deep]';
  const inner = [...path, value];
  if (Array.isArray(value)) return value.map((item) => cleanValue(item, depth + 1, inner));
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  // what JSON.stringify would write (a Date's string), cleaned in its turn
  if (typeof toJSON === 'function') return cleanValue(toJSON.call(value), depth + 1, inner);
  return clean(value as Record<string, unknown>, depth + 1, inner);
}

/** name, code and message of an error and its causes: nothing else. */
export function describeError(err: unknown, depth = 0): Record<string, unknown> {
  if (!(err instanceof Error)) return { message: typeof err === 'string' ? err : 'non-error thrown' };
  const e = err as Error & { code?: unknown; status?: unknown };
  const out: Record<string, unknown> = { name: e.name, message: e.message };
  if (typeof e.code === 'string') out.code = e.code;
  if (typeof e.status === 'number') out.status = e.status;
  if (e.cause instanceof Error && depth < 3) out.cause = describeError(e.cause, depth + 1);
  return out;
}

/** A logger that drops everything (tests that do not look at logs). */
export const silentLogger: Logger = createLogger({ sink: () => {} });
