import {
  FatalAgentError,
  RetryableAgentError,
} from '../../functions/core/messaging/agent-errors.ts';
import type { TaskRequest } from '../../functions/core/model/task.ts';
import {
  type AgentHandler,
  type AgentLambdaHandler,
  defineAgent,
} from '../../functions/core/sdk/define-agent.ts';
import { lambdaContext } from '../../functions/embedded/lambda-context.ts';
import type { AgentInvoker } from '../../functions/embedded/local-executor.ts';

/**
 * Agents for execution tests, written with the real agent SDK so the task contract between the
 * compiled machines and defineAgent is exercised end to end. Behaviour is chosen per agent id.
 */
export interface Behaviour {
  /** Throw FatalAgentError every time. */
  readonly fail?: boolean;
  /** Throw RetryableAgentError on the first `flaky` calls. */
  readonly flaky?: number;
  /** Take this long (ms) before answering. */
  readonly delayMs?: number;
}

export class AgentFleet {
  readonly calls = new Map<string, TaskRequest[]>();
  readonly #handlers = new Map<string, AgentLambdaHandler>();

  readonly behaviours: Record<string, Behaviour>;
  readonly extra: Record<string, AgentHandler>;

  constructor(
    behaviours: Record<string, Behaviour> = {},
    extra: Record<string, AgentHandler> = {},
  ) {
    this.behaviours = behaviours;
    this.extra = extra;
  }

  #handler(agentId: string): AgentLambdaHandler {
    let handler = this.#handlers.get(agentId);
    if (handler === undefined) {
      const custom = this.extra[agentId];
      handler = defineAgent(
        {
          agentId,
          agentType: 'test',
          description: `test agent ${agentId}`,
          capabilities: [{ name: 'test', version: '1.0.0' }],
          handler:
            custom ??
            (async (message) => {
              const task = message.task as TaskRequest;
              const behaviour = this.behaviours[agentId] ?? {};
              const count = this.calls.get(agentId)?.length ?? 0;
              if (behaviour.delayMs)
                await new Promise((resolve) => setTimeout(resolve, behaviour.delayMs));
              if (behaviour.fail) throw new FatalAgentError(`${agentId} cannot do ${task.stepId}`);
              if (behaviour.flaky !== undefined && count <= behaviour.flaky)
                throw new RetryableAgentError(`${agentId} is busy (call ${count})`);
              const input = message.input;
              // Pipelines show their path: each agent appends its id to a trail.
              const trail =
                typeof input === 'object' && input !== null && 'trail' in input
                  ? (input as { trail: string[] }).trail
                  : [];
              return { by: agentId, trail: [...trail, agentId], input };
            }),
        },
        { idempotency: false },
      );
      this.#handlers.set(agentId, handler);
    }
    return handler;
  }

  /** The invoker the local executor binds Task states to: target → agent id → handler. */
  readonly invoke: AgentInvoker = async (target, task) => {
    const agentId =
      target
        .split(/[:/]/)
        .at(-1)
        ?.replace(/^mobius-/, '') ?? target;
    const list = this.calls.get(agentId) ?? [];
    this.calls.set(agentId, [...list, task as TaskRequest]);
    return this.#handler(agentId)(task, lambdaContext(agentId));
  };

  callCount(agentId: string): number {
    return this.calls.get(agentId)?.length ?? 0;
  }
}
