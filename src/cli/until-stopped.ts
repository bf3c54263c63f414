/**
 * Long-running commands (`serve`, `ui`) run until the CLI's stop signal (SIGTERM / SIGINT).
 */

/** Resolves when `signal` aborts; never, without one (in-process use runs until the process ends). */
export function untilStopped(signal: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((resolve) => {
    if (!signal) return;
    if (signal.aborted) return resolve();
    signal.addEventListener('abort', () => resolve(), { once: true });
  });
}
