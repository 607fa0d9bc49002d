import { readdirSync } from 'node:fs';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import type { Registry } from './metrics.ts';

/**
 * The window the event-loop lag gauges describe. Each window's figures are kept when it ends, so a
 * scrape only reads them: two scrapers, or one scraping twice, see the same answer.
 */
export const LAG_WINDOW_MS = 10_000;

/** The process and runtime series a Node exporter is expected to have. Returns a stop function. */
export function registerProcessMetrics(registry: Registry, startedAt: Date, windowMs = LAG_WINDOW_MS): () => void {
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  const seconds = (ns: number): number => (Number.isFinite(ns) ? ns / 1e9 : 0);
  let lag = { mean: 0, p99: 0 };
  const endWindow = setInterval(() => {
    lag = { mean: seconds(loopDelay.mean), p99: seconds(loopDelay.percentile(99)) };
    loopDelay.reset();
  }, windowMs);
  endWindow.unref();

  let gcSeconds = 0;
  let gcObserver: PerformanceObserver | null = null;
  try {
    gcObserver = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) gcSeconds += entry.duration / 1000;
    });
    gcObserver.observe({ entryTypes: ['gc'] });
  } catch {
    gcObserver = null; // GC timings are a nicety; never fail start-up for them.
  }

  registry.counterFrom('process_cpu_user_seconds_total', 'User CPU time spent in seconds.', () => process.cpuUsage().user / 1e6);
  registry.counterFrom('process_cpu_system_seconds_total', 'System CPU time spent in seconds.', () => process.cpuUsage().system / 1e6);
  registry.counterFrom('process_cpu_seconds_total', 'Total user and system CPU time spent in seconds.', () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  });
  registry.gauge('process_resident_memory_bytes', 'Resident memory size in bytes.', () => process.memoryUsage.rss());
  registry.gauge('process_start_time_seconds', 'Start time of the process since unix epoch in seconds.', () =>
    Math.floor(startedAt.getTime() / 1000),
  );
  registry.gauge('process_open_fds', 'Number of open file descriptors.', () => {
    try {
      return readdirSync('/proc/self/fd').length;
    } catch {
      return NaN;
    }
  });
  registry.gauge('nodejs_heap_size_total_bytes', 'Process heap size from Node.js in bytes.', () => process.memoryUsage().heapTotal);
  registry.gauge('nodejs_heap_size_used_bytes', 'Process heap size used from Node.js in bytes.', () => process.memoryUsage().heapUsed);
  const window = `${windowMs / 1000} s`;
  registry.gauge('nodejs_eventloop_lag_seconds', `Mean event loop delay over the last whole ${window} in seconds.`, () => lag.mean);
  registry.gauge('nodejs_eventloop_lag_p99_seconds', `99th percentile event loop delay over the last whole ${window} in seconds.`, () => lag.p99);
  registry.counterFrom('nodejs_gc_duration_seconds_total', 'Time spent in garbage collection in seconds.', () => gcSeconds);

  return () => {
    clearInterval(endWindow);
    loopDelay.disable();
    gcObserver?.disconnect();
  };
}
