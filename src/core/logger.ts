// Structured logs (pino, the logger fastify uses) so the server and the library share one.
import { pino, type Logger } from 'pino';

export type { Logger };

/** A JSON logger on stderr at the given level. */
export function createLogger(level: string, name = 'writ'): Logger {
  return pino({ name, level }, pino.destination(2));
}
