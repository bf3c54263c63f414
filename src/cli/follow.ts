/**
 * The loop behind `approvals watch` and `audit tail --follow`: run a pass now and again whenever
 * the store says something may have changed, one pass at a time, until the run is aborted.
 */
import type { Store } from '../store/store.js';

/**
 * Run `pass` once at once and again after each change notification (bursts coalesce into one
 * extra pass). Resolves after `signal` aborts and the pass in flight has finished, so the caller
 * can close the store safely; rejects with the first error a pass throws.
 */
export async function followChanges(store: Store, signal: AbortSignal | undefined, pass: () => Promise<void>): Promise<void> {
  let chain: Promise<void> = Promise.resolve();
  let queued = false;
  let stopped = false;
  let failure: { error: unknown } | undefined;
  let finish: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    finish = resolve;
  });

  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    finish();
  };
  const schedule = (): void => {
    if (queued || stopped) return;
    queued = true;
    chain = chain
      .then(async () => {
        queued = false;
        if (!stopped) await pass();
      })
      .catch((error: unknown) => {
        failure ??= { error };
        stop();
      });
  };

  // The store polls on an unref'd timer and a pending promise holds nothing open: without this
  // the process would exit as soon as the first pass is done.
  const keepAlive = setInterval(() => {}, 2 ** 30);
  const unsubscribe = store.watch(schedule);
  signal?.addEventListener('abort', stop, { once: true });
  if (signal?.aborted === true) stop();
  schedule();
  try {
    await done;
  } finally {
    clearInterval(keepAlive);
    unsubscribe();
    signal?.removeEventListener('abort', stop);
    await chain;
  }
  if (failure !== undefined) throw failure.error;
}
