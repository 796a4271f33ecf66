import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import type { IConstruct } from 'constructs';

/**
 * What the engine, the API, the health monitor and the monitoring need of an agent: its function
 * and its queues. An `Agent` construct is one; so is anything built from imported resources
 * (`Function.fromFunctionArn`, `Queue.fromQueueArn`), which lets a stack coordinate agents it did
 * not create. No construct imports another's class for this.
 */
export interface IAgentTarget extends IConstruct {
  readonly agentId: string;
  readonly function: IFunction;
  readonly queue: IQueue;
  readonly deadLetterQueue: IQueue;
  /**
   * The agent's response-streaming function, when it has one (the card's `endpoint.streamArn`):
   * the API invokes it with InvokeWithResponseStream for requests that stream.
   */
  readonly streamFunction?: IFunction | undefined;
}

/** Something agents are added to: an engine that runs them. */
export interface IAgentEngine {
  addAgent(agent: IAgentTarget): void;
}
