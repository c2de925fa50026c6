const IDLE = Symbol('idle');

function nextTurn(): Promise<typeof IDLE> {
  return new Promise((resolve) => setImmediate(() => resolve(IDLE)));
}

/**
 * Groups `source` into arrays of at most `max` items. A group is also cut as soon as the next item
 * is not already there (not arrived by the next event-loop turn), so a quiet stream's item goes at
 * once while a burst (an engine chunk of many lines) travels as one message.
 */
export async function* batches<T>(source: AsyncIterable<T>, max: number): AsyncIterable<T[]> {
  const it = source[Symbol.asyncIterator]();
  let batch: T[] = [];
  let pending: Promise<IteratorResult<T>> | undefined;
  let finished = false;
  const take = (): T[] => {
    const b = batch;
    batch = [];
    return b;
  };
  try {
    for (;;) {
      pending ??= it.next();
      let r: IteratorResult<T> | typeof IDLE;
      try {
        r = batch.length === 0 ? await pending : await Promise.race([pending, nextTurn()]);
      } catch (e) {
        finished = true;
        // What was read before the failure still goes out.
        if (batch.length > 0) yield take();
        throw e;
      }
      if (r === IDLE) {
        yield take();
        continue;
      }
      pending = undefined;
      if (r.done) {
        finished = true;
        break;
      }
      batch.push(r.value);
      if (batch.length >= max) yield take();
    }
    if (batch.length > 0) yield take();
  } finally {
    if (!finished) {
      // The consumer left early: release the source (its own abort ends a pending read).
      pending?.catch(() => undefined);
      it.return?.()?.catch(() => undefined);
    }
  }
}
