/** The largest RSS seen since {@link startRss}: sampled every 20 ms, and whenever a subject calls {@link sampleRss}. */
let peak = 0;
let timer: NodeJS.Timeout | undefined;

export function sampleRss(): void {
  const rss = process.memoryUsage.rss();
  if (rss > peak) peak = rss;
}

/** Starts sampling; returns the baseline. */
export function startRss(): number {
  peak = 0;
  sampleRss();
  timer = setInterval(sampleRss, 20);
  return peak;
}

/** Stops sampling; returns the peak. */
export function stopRss(): number {
  sampleRss();
  clearInterval(timer);
  return peak;
}
