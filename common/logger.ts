import { pino, type Logger } from 'pino';

/** JSON logs on stderr, so that stdout stays free for a command's own output. */
export function createLogger(name: string, level = 'info'): Logger {
  return pino({ name, level, base: { component: name } }, pino.destination(2));
}
