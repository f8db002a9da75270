// Percentiles and medians of the flood's figures.

export interface Latency {
  samples: number;
  p50: number;
  p99: number;
}

/** Nearest-rank percentile of `values` (ms); NaN when there are none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export function latencyOf(values: readonly number[]): Latency {
  return { samples: values.length, p50: percentile(values, 50), p99: percentile(values, 99) };
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}
