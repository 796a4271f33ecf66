import { Metrics } from '@aws-lambda-powertools/metrics';
import { vi } from 'vitest';

/** A Powertools Metrics whose EMF lines `emf()` can read. */
export function metricsFor(serviceName: string): Metrics {
  // Dev mode prints EMF through the global console; it also turns metrics off unless told otherwise.
  vi.stubEnv('POWERTOOLS_DEV', 'true');
  vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'false');
  return new Metrics({ namespace: 'MobiusTest', serviceName });
}

interface EmfLine {
  _aws: { CloudWatchMetrics: { Dimensions: string[][]; Metrics: { Name: string }[] }[] };
  pattern?: string;
}

/**
 * Runs `work` (which publishes through a metricsFor() instance), then returns its result and the
 * metrics printed as EMF: each metric's name and its `pattern` dimension, if it has one.
 */
export async function emf<T>(
  work: () => T | Promise<T>,
  metrics?: Metrics,
): Promise<{ result: T; metrics: { name: string; pattern: string | undefined }[] }> {
  const printed: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((line: unknown) => {
    printed.push(String(line));
  });
  let result: T;
  try {
    result = await work();
    metrics?.publishStoredMetrics();
  } finally {
    log.mockRestore();
    vi.unstubAllEnvs();
  }
  return {
    result,
    metrics: printed.flatMap((line) => {
      const parsed = JSON.parse(line) as EmfLine;
      const dimensions = parsed._aws.CloudWatchMetrics[0]?.Dimensions[0] ?? [];
      return (parsed._aws.CloudWatchMetrics[0]?.Metrics ?? []).map((m) => ({
        name: m.Name,
        pattern: dimensions.includes('pattern') ? parsed.pattern : undefined,
      }));
    }),
  };
}
