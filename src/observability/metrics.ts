// A small Prometheus text-format (0.0.4) exporter: counters, gauges and histograms with fixed label names.

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

type Labels = Readonly<Record<string, string>>;
type Sample = { labels: Labels; value: number };

export type Counter = { inc(labels?: Labels, by?: number): void; value(labels?: Labels): number };
export type Histogram = { observe(labels: Labels, value: number): void };

type Family = { name: string; help: string; type: 'counter' | 'gauge' | 'histogram'; samples(): string[] };

export type Registry = {
  counter(name: string, help: string, labelNames?: readonly string[]): Counter;
  /** `collect` runs at scrape time, so the value is never stale. */
  gauge(name: string, help: string, collect: () => number | readonly Sample[]): void;
  /** A counter whose running total lives elsewhere (CPU seconds, GC time), read at scrape time. */
  counterFrom(name: string, help: string, collect: () => number | readonly Sample[]): void;
  histogram(name: string, help: string, buckets: readonly number[], labelNames?: readonly string[]): Histogram;
  render(): string;
};

export function createRegistry(): Registry {
  const families: Family[] = [];
  const add = (family: Family): void => {
    if (families.some((f) => f.name === family.name)) throw new Error(`metric ${family.name} registered twice`);
    families.push(family);
  };
  const collected =
    (type: 'gauge' | 'counter') =>
    (name: string, help: string, collect: () => number | readonly Sample[]): void =>
      add(collectedFamily(name, help, type, collect));

  return {
    counter: (name, help, labelNames = []) => createCounter(add, name, help, labelNames),
    gauge: collected('gauge'),
    counterFrom: collected('counter'),
    histogram: (name, help, buckets, labelNames = []) => createHistogram(add, name, help, buckets, labelNames),
    render() {
      const out: string[] = [];
      for (const f of families) {
        out.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`, ...f.samples());
      }
      return out.join('\n') + '\n';
    },
  };
}

/** A family whose value lives elsewhere and is read at scrape time. */
function collectedFamily(name: string, help: string, type: 'gauge' | 'counter', collect: () => number | readonly Sample[]): Family {
  return {
    name,
    help,
    type,
    samples: () => {
      const v = collect();
      const list = typeof v === 'number' ? [{ labels: {}, value: v }] : v;
      return list.map((s) => sampleLine(name, s));
    },
  };
}

function createCounter(add: (f: Family) => void, name: string, help: string, labelNames: readonly string[]): Counter {
  const values = new Map<string, { labels: Labels; value: number }>();
  add({ name, help, type: 'counter', samples: () => [...values.values()].map((s) => sampleLine(name, s)) });
  if (labelNames.length === 0) values.set('', { labels: {}, value: 0 });
  return {
    inc(labels = {}, by = 1) {
      const key = seriesKey(labels, labelNames);
      const entry = values.get(key);
      if (entry) entry.value += by;
      else values.set(key, { labels: pick(labels, labelNames), value: by });
    },
    value(labels = {}) {
      return values.get(seriesKey(labels, labelNames))?.value ?? 0;
    },
  };
}

function createHistogram(
  add: (f: Family) => void,
  name: string,
  help: string,
  buckets: readonly number[],
  labelNames: readonly string[],
): Histogram {
  const bounds = [...buckets].sort((a, b) => a - b);
  type Series = { labels: Labels; counts: number[]; sum: number; count: number };
  const series = new Map<string, Series>();
  add({ name, help, type: 'histogram', samples: () => [...series.values()].flatMap((s) => histogramLines(name, bounds, s)) });
  return {
    observe(labels, value) {
      const key = seriesKey(labels, labelNames);
      let s = series.get(key);
      if (!s) {
        s = { labels: pick(labels, labelNames), counts: new Array<number>(bounds.length).fill(0), sum: 0, count: 0 };
        series.set(key, s);
      }
      const i = firstBucketAtLeast(bounds, value);
      if (i < bounds.length) s.counts[i] = (s.counts[i] ?? 0) + 1;
      s.sum += value;
      s.count += 1;
    },
  };
}

/** One histogram series. Buckets are stored per interval and summed here: observe() stays O(log n) and cheap. */
function histogramLines(name: string, bounds: readonly number[], s: { labels: Labels; counts: number[]; sum: number; count: number }): string[] {
  const lines: string[] = [];
  let cumulative = 0;
  bounds.forEach((le, i) => {
    cumulative += s.counts[i] ?? 0;
    lines.push(`${name}_bucket${formatLabels({ ...s.labels, le: formatValue(le) })} ${cumulative}`);
  });
  lines.push(`${name}_bucket${formatLabels({ ...s.labels, le: '+Inf' })} ${s.count}`);
  lines.push(`${name}_sum${formatLabels(s.labels)} ${formatValue(s.sum)}`);
  lines.push(`${name}_count${formatLabels(s.labels)} ${s.count}`);
  return lines;
}

function seriesKey(labels: Labels, names: readonly string[]): string {
  return names.map((n) => labels[n] ?? '').join('\u0000');
}

function sampleLine(name: string, s: Sample): string {
  return `${name}${formatLabels(s.labels)} ${formatValue(s.value)}`;
}

function firstBucketAtLeast(bounds: readonly number[], value: number): number {
  let lo = 0;
  let hi = bounds.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((bounds[mid] ?? Infinity) >= value) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

// A label left out is left out of the line too (in Prometheus, an absent label and an empty one are the
// same), so a family can add a label for new series without changing how its older series are written.
function pick(labels: Labels, names: readonly string[]): Labels {
  const out: Record<string, string> = {};
  for (const n of names) if (labels[n] !== undefined) out[n] = labels[n];
  return out;
}

export function formatLabels(labels: Labels): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

export function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}
