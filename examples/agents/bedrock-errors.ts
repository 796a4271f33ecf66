import {
  InternalServerException,
  ModelNotReadyException,
  ModelStreamErrorException,
  ModelTimeoutException,
  ServiceUnavailableException,
  ThrottlingException,
} from '@aws-sdk/client-bedrock-runtime';
import {
  FatalAgentError,
  RetryableAgentError,
} from '../../functions/core/messaging/agent-errors.ts';

/**
 * How the example Bedrock agents report a failed model call, so that a coordination treats it
 * right: throttling and the service's transient faults are retryable (Step Functions tries again,
 * then the fallback); a request the service refuses (validation, access, quota) is fatal.
 */

/**
 * Worth another try later: throttling, a model still loading or too slow, a stream the model broke
 * off, the service's own faults.
 */
export function isTransient(error: unknown): error is Error {
  return (
    error instanceof ThrottlingException ||
    error instanceof ServiceUnavailableException ||
    error instanceof InternalServerException ||
    error instanceof ModelNotReadyException ||
    error instanceof ModelTimeoutException ||
    error instanceof ModelStreamErrorException
  );
}

/** The agent error to throw for what a Bedrock call threw (agent errors pass through as they are). */
export function bedrockFailure(error: unknown): Error {
  if (error instanceof RetryableAgentError || error instanceof FatalAgentError) return error;
  if (isTransient(error))
    return new RetryableAgentError(`Bedrock could not answer now: ${error.name}: ${error.message}`);
  return new FatalAgentError(`Bedrock refused the request: ${(error as Error).message}`);
}
