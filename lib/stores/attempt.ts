/** `start()`'s Promise, or its synchronous throw as a rejection. */
export function attempt<T>(start: () => Promise<T>): Promise<T> {
  try {
    return start();
  } catch (error) {
    return Promise.reject(error);
  }
}
