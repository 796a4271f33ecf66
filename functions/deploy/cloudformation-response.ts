import { Logger } from '@aws-lambda-powertools/logger';
import type {
  CloudFormationCustomResourceEvent,
  CloudFormationCustomResourceResponse,
} from 'aws-lambda';

/** What a custom resource's work produced: its physical id and the attributes `Fn::GetAtt` reads. */
export interface CustomResourceResult {
  readonly PhysicalResourceId: string;
  readonly Data?: Record<string, string>;
}

/**
 * Physical id given to a resource whose Create failed: CloudFormation then sends a Delete for it
 * while rolling back, and that Delete must succeed without touching anything.
 */
export const FAILED_CREATE_ID = 'mobius:create-failed';

/** CloudFormation refuses response bodies over 4 KiB: the reason is cut well below that. */
const MAX_REASON_LENGTH = 1_000;

const logger = new Logger({ serviceName: 'mobius-custom-resource' });

/**
 * Runs a Lambda-backed custom resource and reports the outcome to CloudFormation through the
 * event's `ResponseURL` (a presigned S3 URL on AWS). The whole URL is used as given — scheme, host
 * and port — so the same function answers CloudFormation on AWS and in LocalStack. A failure is
 * reported as FAILED with its message (never a stack trace) rather than left to CloudFormation's
 * one-hour timeout.
 */
export async function respondToCloudFormation(
  event: CloudFormationCustomResourceEvent,
  work: (event: CloudFormationCustomResourceEvent) => Promise<CustomResourceResult>,
  send: typeof fetch = fetch,
): Promise<CloudFormationCustomResourceResponse> {
  let response: CloudFormationCustomResourceResponse;
  const common = {
    StackId: event.StackId,
    RequestId: event.RequestId,
    LogicalResourceId: event.LogicalResourceId,
  };
  if (event.RequestType === 'Delete' && event.PhysicalResourceId === FAILED_CREATE_ID) {
    response = { ...common, Status: 'SUCCESS', PhysicalResourceId: FAILED_CREATE_ID };
  } else {
    try {
      const result = await work(event);
      response = {
        ...common,
        Status: 'SUCCESS',
        PhysicalResourceId: result.PhysicalResourceId,
        ...(result.Data ? { Data: result.Data } : {}),
      };
    } catch (error) {
      // The whole error (stack, cause) goes to the function's log; CloudFormation gets its message.
      logger.error('custom resource failed', { error, requestType: event.RequestType });
      const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      response = {
        ...common,
        Status: 'FAILED',
        Reason:
          reason.length > MAX_REASON_LENGTH ? `${reason.slice(0, MAX_REASON_LENGTH)}…` : reason,
        PhysicalResourceId:
          event.RequestType === 'Create' ? FAILED_CREATE_ID : event.PhysicalResourceId,
      };
    }
  }
  const body = JSON.stringify(response);
  // Presigned S3 URLs sign no content type: send none, as CloudFormation's own helpers do.
  const answer = await send(event.ResponseURL, {
    method: 'PUT',
    headers: { 'content-type': '' },
    body,
  });
  if (!answer.ok) {
    throw new Error(
      `CloudFormation's response URL answered ${answer.status}: ${(await answer.text()).slice(0, 200)}`,
    );
  }
  return response;
}
