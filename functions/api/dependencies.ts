import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { CoordinationService } from '../coordination/service.ts';
import type { OldestMessageAge } from '../core/messaging/queue-inspector.ts';
import type { MessageRouter } from '../core/messaging/router.ts';
import type { AgentRegistry } from '../core/registry/agent-registry.ts';
import type { CoordinationEventLog } from '../core/streaming/event-log.ts';
import type { AccessSettings } from './caller.ts';

/** What the API routes need; built from the environment in Lambda, from emulators locally. */
export interface ApiDependencies {
  readonly registry: AgentRegistry;
  readonly router: MessageRouter;
  readonly coordinations: CoordinationService;
  /**
   * Who callers are and which of them are operators (see caller.ts). The Lambda entry sets IAM
   * settings from its environment. @default LOCAL_ACCESS: every caller is the one local operator,
   * as the embedded runtime (loopback, no signatures) needs; a request with an IAM identity is
   * then refused
   */
  readonly access?: AccessSettings;
  /** Powertools metrics (EMF) for coordination counts and timings; optional in tests. */
  readonly metrics?: Metrics;
  /** Where unexpected errors (the 500s) are logged with their stack and request id. */
  readonly logger?: Logger;
  /**
   * How long POST /coordinations waits for an express result before answering 504 itself. Behind
   * API Gateway (29 s integration timeout) this keeps the answer ours, with the error body of the
   * API, rather than the gateway's. @default no limit (the embedded runtime)
   */
  readonly syncWaitMs?: number;
  /**
   * The coordination event log the SSE routes read (GET /coordinations/{id}/events, POST
   * /coordinations with `Accept: text/event-stream`): the one the coordination service and the
   * agents append to. @default none: those routes answer 503 naming MOBIUS_EVENTS_TABLE
   */
  readonly events?: CoordinationEventLog;
  /**
   * SQS for the operators' queue routes (GET /agents/{id}/queue, the dead letters, their redrive).
   * @default the process's shared client (from AWS_REGION and AWS_ENDPOINT_URL)
   */
  readonly sqs?: SQSClient;
  /**
   * Where GET /agents/{id}/queue reads the age of a queue's oldest message, which SQS keeps as a
   * CloudWatch metric rather than a queue attribute. The Lambda entry reads CloudWatch.
   * @default none: oldestMessageAgeSeconds is null (unknown), as in the embedded runtime
   */
  readonly oldestMessageAge?: OldestMessageAge;
}
