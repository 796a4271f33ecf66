import type { Tracer } from '@aws-lambda-powertools/tracer';

/**
 * X-Ray tracing of the project's AWS SDK clients through the Powertools Tracer, paid for only
 * where it is used. This module imports no tracer: a Lambda entry that traces creates its Tracer
 * and installs it (`installTracer`), and from then on the clients of functions/core/aws are
 * captured (`captureAWSv3Client`: one subsegment per SDK call) and `annotate` writes annotations.
 * Everywhere else — the embedded runtime, the CLI, tests, agents that do not install one — the
 * X-Ray SDK is never loaded (≈120 KB minified in a bundle; see docs/benchmarks.md, "Tracing") and
 * `traced`/`annotate` do nothing.
 */

/** An AWS SDK v3 client (X-Ray's capture adds a middleware to its stack). */
type Capturable = { readonly middlewareStack: object };

let installed: Tracer | undefined;
const captured = new WeakSet<object>();
/**
 * Clients created in Lambda before the entry installed its tracer (a module that builds one at
 * import time, before the entry's own body runs): captured on installation. Outside Lambda nothing
 * is kept, so tests that create many clients hold on to none of them.
 */
const early = new Set<Capturable>();

/**
 * Makes `tracer` the one this process's clients and annotations use, if its tracing is enabled
 * (Powertools' rule: in Lambda, not SAM local, `POWERTOOLS_TRACE_ENABLED` not `false`); a
 * disabled tracer changes nothing. Clients created before are captured now.
 */
export function installTracer(tracer: Tracer): void {
  if (!tracer.isTracingEnabled()) return;
  installed = tracer;
  for (const client of early) capture(client);
  early.clear();
}

/** The installed tracer, when tracing is on (for tests and handlers that open subsegments). */
export function activeTracer(): Tracer | undefined {
  return installed;
}

/** Captures `client` with the installed tracer (now, or when one is installed); returns it. */
export function traced<C extends Capturable>(client: C): C {
  if (installed !== undefined) capture(client);
  else if (process.env.AWS_LAMBDA_FUNCTION_NAME) early.add(client);
  return client;
}

/**
 * X-Ray annotations (indexed: `annotation.coordinationId = "…"` finds the trace) on the current
 * subsegment. Skipped without a subsegment: X-Ray refuses annotations on Lambda's own (facade)
 * segment, and an entry that wants them opens one (the API: captureLambdaHandler).
 */
export function annotate(annotations: {
  readonly agentId?: string;
  readonly coordinationId?: string;
}): void {
  if (installed === undefined) return;
  const entity = installed.getSegment();
  // A subsegment has a parent; Lambda's facade segment has none.
  if (entity === undefined || !('parent' in entity)) return;
  for (const [key, value] of Object.entries(annotations))
    if (value !== undefined) entity.addAnnotation(key, value);
}

function capture(client: Capturable): void {
  // captureAWSv3Client adds its middleware by name: once per client.
  if (captured.has(client)) return;
  installed?.captureAWSv3Client(client);
  captured.add(client);
}
