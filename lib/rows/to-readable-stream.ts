import { TextEncoding, type RowFormat } from './row-format';

/**
 * A web ReadableStream over a stream's batches: `pull` reads one batch, and
 * the stream calls it again only once its queue was read down (a `fetch`
 * Response body, `new Response(stream)`, pulls as its client reads). Rows are
 * queued one by one in the 'objects' format; the text formats queue one
 * UTF-8 chunk per batch. The batches open on the first pull and close (the
 * cursor, and the connection it holds) on end, error and `cancel()`.
 */
export function rowsReadableStream<T>(
  open: () => AsyncIterator<T[]>,
  format: RowFormat,
  signal?: AbortSignal,
): ReadableStream<T | Uint8Array> {
  const text = format === 'objects' ? undefined : new TextEncoding(format);
  const utf8 = new TextEncoder();
  let batches: AsyncIterator<T[]> | undefined;
  let pulling: Promise<void> | undefined;
  let onAbort: (() => void) | undefined;
  const stopListening = () => onAbort && signal?.removeEventListener('abort', onAbort);

  const pull = async (controller: ReadableStreamDefaultController<T | Uint8Array>) => {
    batches ??= open();
    try {
      const result = await batches.next();
      if (result.done) {
        stopListening();
        const tail = text?.end();
        if (tail) controller.enqueue(utf8.encode(tail));
        controller.close();
      } else if (text) {
        controller.enqueue(utf8.encode(text.batch(result.value)));
      } else {
        for (const row of result.value) controller.enqueue(row);
      }
    } catch (err) {
      // The batches closed themselves on their error; a row JSON refused leaves them open.
      stopListening();
      // Told first: a failure to close must not hide the error, nor go unhandled.
      controller.error(err);
      await batches.return?.().catch(() => undefined);
    }
  };

  // One read at a time: the abort's read and the stream's pull share it.
  const pullOnce = (controller: ReadableStreamDefaultController<T | Uint8Array>) =>
    (pulling ??= pull(controller).finally(() => (pulling = undefined)));

  return new ReadableStream<T | Uint8Array>(
    {
      start(controller) {
        // Aborted while the queue is full, no pull is under way to see it: read once now, which fails at once.
        onAbort = () => void pullOnce(controller).catch(() => undefined);
        signal?.addEventListener('abort', onAbort, { once: true });
      },
      pull: pullOnce,
      async cancel() {
        stopListening();
        // Waits for a read under way: the cursor is never closed under one.
        await batches?.return?.();
      },
      // 0: no pull (no cursor, no connection) until someone reads; a stream
      // made and dropped unread holds nothing. A batch read stays queued.
    },
    { highWaterMark: 0 },
  );
}
