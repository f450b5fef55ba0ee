// The one error type Writ throws: a stable code, an HTTP status, details and a cause.
// Each module declares its own codes with `defineErrors`; the registry lets a test keep
// docs/errors.md in step with the code.

/** What a module says about each of its codes. */
export interface ErrorSpec {
  /** HTTP status the server answers with. */
  readonly status: number;
  /** One line: what the code means. */
  readonly meaning: string;
  /** One line: how a caller fixes it. */
  readonly fix: string;
}

const registry = new Map<string, ErrorSpec & { area: string }>();

/**
 * Declares the error codes of one area. Codes read `AREA_PROBLEM` and are never reused.
 *
 * @example
 * export const StoreErrors = defineErrors('store', {
 *   STORE_OPEN_FAILED: { status: 500, meaning: '…', fix: '…' },
 * });
 */
export function defineErrors<const T extends Record<string, ErrorSpec>>(area: string, specs: T): { [K in keyof T]: K } {
  const codes = {} as { [K in keyof T]: K };
  for (const [code, spec] of Object.entries(specs)) {
    if (!/^[A-Z][A-Z0-9]*(_[A-Z0-9]+)+$/.test(code)) throw new Error(`error code \`${code}\` must read AREA_PROBLEM`);
    if (registry.has(code)) throw new Error(`error code \`${code}\` is declared twice`);
    registry.set(code, { ...spec, area });
    (codes as Record<string, string>)[code] = code;
  }
  return codes;
}

/** Every declared code, for docs and the test that keeps them in step. */
export function listErrorCodes(): ReadonlyArray<{ code: string; area: string } & ErrorSpec> {
  return [...registry.entries()].map(([code, spec]) => ({ code, ...spec })).sort((a, b) => a.code.localeCompare(b.code));
}

export const CoreErrors = defineErrors('core', {
  INVALID_INPUT: {
    status: 400,
    meaning: 'the input did not match its schema; `details.issues` lists every problem as `{ path, code, message }`',
    fix: 'correct each listed field and send again',
  },
  CORE_NOT_CANONICAL: {
    status: 400,
    meaning:
      'a value cannot be written as canonical JSON (RFC 8785): e.g. NaN, Infinity, undefined, a function, a toJSON method, a cycle, a hole in an array, a lone surrogate, or nesting over 1000 deep',
    fix: 'send only JSON values: finite numbers, strings of valid unicode, booleans, null, arrays and plain objects, nested at most 1000 deep',
  },
  CORE_INVALID_TIME: {
    status: 400,
    meaning: 'a timestamp is not an ISO 8601 date-time with a time zone',
    fix: 'send times like `2026-11-26T09:00:00Z` or `2026-11-26T10:00:00+01:00`',
  },
  CONFIG_INVALID: {
    status: 500,
    meaning: 'the configuration (environment or config file) has one or more invalid settings; `details.issues` lists them all',
    fix: 'correct each listed setting (see the configuration table in README.md) and start again',
  },
  CONFIG_FILE_UNREADABLE: {
    status: 500,
    meaning: 'the config file named by `WRIT_CONFIG` cannot be read or is not valid JSON',
    fix: 'check the path and the JSON syntax of the file',
  },
  INTERNAL_ERROR: {
    status: 500,
    meaning: 'an unexpected failure inside Writ; the request changed nothing it had not committed',
    fix: 'retry; if it persists, report it with the request id',
  },
});

/** A stable issue shape for bad input: every problem at once, not the first. */
export interface InputIssue {
  readonly path: string;
  readonly code: string;
  readonly message: string;
}

/** Base class of every error Writ throws on purpose. */
export class WritError extends Error {
  override readonly name = 'WritError';
  readonly code: string;
  readonly status: number;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: string, message: string, options: { details?: Record<string, unknown>; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    const spec = registry.get(code);
    if (spec === undefined) throw new Error(`undeclared error code \`${code}\``);
    this.code = code;
    this.status = spec.status;
    this.details = Object.freeze({ ...(options.details ?? {}) });
  }

  /** The JSON shape the HTTP API and `--json` CLI output use. */
  toJSON(): { code: string; message: string; details: Readonly<Record<string, unknown>> } {
    return { code: this.code, message: this.message, details: this.details };
  }
}

/** True when `err` is a WritError, optionally with the given code. */
export function isWritError(err: unknown, code?: string): err is WritError {
  return err instanceof WritError && (code === undefined || err.code === code);
}
