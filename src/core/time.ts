// Time in one form: UTC ISO 8601 with milliseconds and `Z`. A Clock makes it injectable.
import { CoreErrors, WritError } from './errors.js';

/** A source of the current time; tests pass a fixed or stepping clock. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

// Requires a zone designator: a time without one is ambiguous, and authority records
// must not depend on the server's local zone.
const ISO_WITH_ZONE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/i;

/** Formats a Date as `YYYY-MM-DDTHH:mm:ss.sssZ`. */
export function toUtcIso(date: Date): string {
  return date.toISOString();
}

/** The clock's current time as a UTC ISO string. */
export function nowIso(clock: Clock = systemClock): string {
  return toUtcIso(clock.now());
}

/**
 * Normalizes an ISO 8601 timestamp with any zone to UTC (`…Z`). Throws CORE_INVALID_TIME
 * for anything else, including timestamps without a zone.
 *
 * @example
 * normalizeTime('2026-11-26T10:00:00+01:00') // '2026-11-26T09:00:00.000Z'
 */
export function normalizeTime(input: string): string {
  if (!ISO_WITH_ZONE.test(input)) {
    throw new WritError(CoreErrors.CORE_INVALID_TIME, `time \`${input}\` is not an ISO 8601 date-time with a zone`, {
      details: { value: input },
    });
  }
  const ms = Date.parse(input);
  if (Number.isNaN(ms)) {
    throw new WritError(CoreErrors.CORE_INVALID_TIME, `time \`${input}\` is not a real date`, { details: { value: input } });
  }
  return new Date(ms).toISOString();
}

/** True when `iso` lies at or before the clock's now. */
export function isPast(iso: string, clock: Clock = systemClock): boolean {
  return Date.parse(iso) <= clock.now().getTime();
}
