// SIGTERM and SIGINT for the long-running commands (controller, agent, sidecar): the first
// one logs, runs the component's own stop (drain, close) and exits; repeats are ignored.
import type { Logger } from 'pino';

export function onStopSignals(log: Logger, message: string, stop: () => Promise<unknown>): void {
  let stopping = false;
  const handle = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, message);
    void stop().then(() => process.exit(0));
  };
  process.on('SIGTERM', () => handle('SIGTERM'));
  process.on('SIGINT', () => handle('SIGINT'));
}
