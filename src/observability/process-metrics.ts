import { readdirSync } from 'node:fs';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import type { Registry } from './metrics.ts';

/** The process and runtime series a Node exporter is expected to have. Returns a stop function. */
export function registerProcessMetrics(registry: Registry, startedAt: Date): () => void {
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();

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
  // Both lag gauges describe the interval since the previous scrape; the second one starts the next interval.
  registry.gauge('nodejs_eventloop_lag_seconds', 'Mean event loop delay since the previous scrape in seconds.', () =>
    Number.isFinite(loopDelay.mean) ? loopDelay.mean / 1e9 : 0,
  );
  registry.gauge('nodejs_eventloop_lag_p99_seconds', '99th percentile event loop delay since the previous scrape in seconds.', () => {
    const p99 = loopDelay.percentile(99);
    loopDelay.reset();
    return Number.isFinite(p99) ? p99 / 1e9 : 0;
  });
  registry.counterFrom('nodejs_gc_duration_seconds_total', 'Time spent in garbage collection in seconds.', () => gcSeconds);

  return () => {
    loopDelay.disable();
    gcObserver?.disconnect();
  };
}
