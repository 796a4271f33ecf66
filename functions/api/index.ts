import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { createApi } from './app.ts';
import { corsOriginsFromEnvironment, dependenciesFromEnvironment } from './environment.ts';

/** Lambda entry of the HTTP API. Dependencies are built once per container, at init. */
const logger = new Logger({ serviceName: 'mobius-api' });
const metrics = new Metrics({ namespace: 'Mobius', serviceName: 'mobius-api' });

export const handler = createApi(
  { ...dependenciesFromEnvironment(), metrics },
  { corsOrigins: corsOriginsFromEnvironment() },
)
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics));
