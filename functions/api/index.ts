import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { metricsNamespace } from '../core/metrics-namespace.ts';
import { createApi } from './app.ts';
import { corsOriginsFromEnvironment, dependenciesFromEnvironment } from './environment.ts';

/** Lambda entry of the HTTP API. Dependencies are built once per container, at init. */
const logger = new Logger({ serviceName: 'mobius-api' });
const metrics = new Metrics({ namespace: metricsNamespace(), serviceName: 'mobius-api' });

/** API Gateway gives up on an integration after 29 s; answer before it does. */
const SYNC_WAIT_MS = 27_000;

export const handler = createApi(
  { ...dependenciesFromEnvironment(), metrics, logger, syncWaitMs: SYNC_WAIT_MS },
  { corsOrigins: corsOriginsFromEnvironment() },
)
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics));
