import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import { installTracer } from '../core/aws/tracing.ts';
import { metricsNamespace } from '../core/metrics-namespace.ts';
import { createApi } from './app.ts';
import { corsOriginsFromEnvironment, dependenciesFromEnvironment } from './environment.ts';
import { streamingApi } from './stream-entry.ts';

/** Lambda entry of the HTTP API. Dependencies are built once per container, at init. */
const logger = new Logger({ serviceName: 'mobius-api' });
const metrics = new Metrics({ namespace: metricsNamespace(), serviceName: 'mobius-api' });
/**
 * X-Ray: every AWS SDK call of this function is a subsegment (installed before the dependencies
 * build their clients), and each request's own subsegment carries the `coordinationId` annotation.
 */
const tracer = new Tracer({ serviceName: 'mobius-api' });
installTracer(tracer);

/**
 * How long POST /coordinations in JSON waits for an express run's result before answering 504
 * TIMEOUT. The integration may stream for 15 minutes, but a JSON answer sends nothing until it is
 * ready, and API Gateway cuts a response that stays idle for 30 s on an edge-optimized endpoint
 * (the default), as a buffered integration gives up after 29 s. A run watched over SSE (Accept:
 * text/event-stream) sends as it goes and is not held to this.
 */
const SYNC_WAIT_MS = 27_000;

/**
 * The API's routes with the Powertools middleware around them: logger context, metrics flushed
 * per request, an X-Ray subsegment per request. It answers API Gateway proxy results (or streamed
 * ones); `handler` writes them to Lambda's response stream.
 */
export const api = createApi(
  { ...dependenciesFromEnvironment(), metrics, logger, syncWaitMs: SYNC_WAIT_MS },
  { corsOrigins: corsOriginsFromEnvironment() },
)
  // Coordination results can be far larger than an X-Ray segment (64 KB): not recorded as metadata.
  .use(captureLambdaHandler(tracer, { captureResponse: false }))
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics));

/**
 * What Lambda runs: a response-streaming function behind API Gateway's STREAM transfer mode
 * (lib/api.ts). The middleware has finished when a route returns its result; metrics a streamed
 * answer adds while it is written (the SSE routes run on after that, and a POST /coordinations
 * whose reader left waits for its run) are flushed once it ends.
 */
export const handler = streamingApi(api, {
  afterResponse: () => {
    if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
  },
});
