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
 * metrics printed as EMF: each metric's name and its `pattern` dimension, if it has one, and each
 * metric's last printed value by name.
 */
export async function emf<T>(
  work: () => T | Promise<T>,
  metrics?: Metrics,
): Promise<{
  result: T;
  metrics: { name: string; pattern: string | undefined }[];
  values: Record<string, unknown>;
}> {
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
  const lines = printed.map((line) => JSON.parse(line) as EmfLine & Record<string, unknown>);
  return {
    result,
    values: Object.fromEntries(
      lines.flatMap((parsed) =>
        (parsed._aws.CloudWatchMetrics[0]?.Metrics ?? []).map((m) => [m.Name, parsed[m.Name]]),
      ),
    ),
    metrics: lines.flatMap((parsed) => {
      const dimensions = parsed._aws.CloudWatchMetrics[0]?.Dimensions[0] ?? [];
      return (parsed._aws.CloudWatchMetrics[0]?.Metrics ?? []).map((m) => ({
        name: m.Name,
        pattern: dimensions.includes('pattern') ? parsed.pattern : undefined,
      }));
    }),
  };
}
