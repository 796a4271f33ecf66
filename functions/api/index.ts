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

/** Lambda entry of the HTTP API. Dependencies are built once per container, at init. */
const logger = new Logger({ serviceName: 'mobius-api' });
const metrics = new Metrics({ namespace: metricsNamespace(), serviceName: 'mobius-api' });
/**
 * X-Ray: every AWS SDK call of this function is a subsegment (installed before the dependencies
 * build their clients), and each request's own subsegment carries the `coordinationId` annotation.
 */
const tracer = new Tracer({ serviceName: 'mobius-api' });
installTracer(tracer);

/** API Gateway gives up on an integration after 29 s; answer before it does. */
const SYNC_WAIT_MS = 27_000;

export const handler = createApi(
  { ...dependenciesFromEnvironment(), metrics, logger, syncWaitMs: SYNC_WAIT_MS },
  { corsOrigins: corsOriginsFromEnvironment() },
)
  // Coordination results can be far larger than an X-Ray segment (64 KB): not recorded as metadata.
  .use(captureLambdaHandler(tracer, { captureResponse: false }))
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics));
