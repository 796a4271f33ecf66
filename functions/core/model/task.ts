import * as z from 'zod';

/**
 * The contract between compiled state machines and agents. The compiler builds these payloads in
 * ASL (statemachines/tasks.ts); the agent SDK parses them. Change both together.
 */
export const TASK_KIND = 'mobius.task';
export const PING_KIND = 'mobius.ping';

export const taskRequestSchema = z.object({
  kind: z.literal(TASK_KIND),
  coordinationId: z.string().min(1),
  stepId: z.string().min(1),
  /** The agent the coordinator addressed (a fallback may receive a task planned for another). */
  agentId: z.string().min(1),
  /**
   * Which of the step's candidates this Task is: 0 the agent planned, 1… its fallbacks in order.
   * The agent tells a fallback's start from a first start by it, and counts retries per candidate
   * (step events). Absent in tasks built by hand: read as 0.
   */
  candidate: z.int().min(0).optional(),
  pattern: z.string().min(1),
  /** What to work on (sequential, parallel, scatter-gather, the supervisor): an object. */
  input: z.json().optional(),
  /** Pipeline: the previous agent's result; its `output` is what this agent works on. */
  previous: z.object({ agentId: z.string(), output: z.json(), durationMs: z.number() }).optional(),
  /** Hierarchical workers: the subtask the supervisor planned; its `input` is the work. */
  subtask: z
    .object({ subtaskId: z.string(), worker: z.number(), agentId: z.string(), input: z.json() })
    .optional(),
  /** Pattern-specific context: earlier step records (sequential), round and workers (hierarchical). */
  context: z.json().optional(),
  /** Standard mode only: answer with SendTaskSuccess/SendTaskFailure on this token. */
  taskToken: z.string().min(1).optional(),
  /** Standard mode only: send SendTaskHeartbeat at least this often while working. */
  heartbeatSeconds: z.number().int().positive().optional(),
  /** Fan-out items: the seconds this task has before Step Functions times it out. */
  timeoutSeconds: z.number().int().positive().optional(),
});
export type TaskRequest = z.output<typeof taskRequestSchema>;

/**
 * What the agent works on. The state machine passes objects only (never a bare value that could
 * be falsy), and the work is inside them: the previous result's output, the subtask's input.
 */
export function taskInput(task: TaskRequest): unknown {
  if (task.previous !== undefined) return task.previous.output;
  if (task.subtask !== undefined) return task.subtask.input;
  return task.input ?? null;
}

/** What an agent returns for a task; `durationMs` is time spent inside the agent's handler. */
export const taskResultSchema = z.object({
  agentId: z.string(),
  output: z.json(),
  durationMs: z.number().min(0),
});
export type TaskResult = z.output<typeof taskResultSchema>;

/** What a hierarchical supervisor returns each round. */
export const supervisorDecisionSchema = z.union([
  z.object({
    done: z.literal(true),
    output: z.json(),
  }),
  z.object({
    done: z.literal(false).default(false),
    subtasks: z
      .array(
        z
          .object({
            agentId: z.string().optional(),
            capability: z.string().optional(),
            input: z.json(),
          })
          .refine((s) => (s.agentId === undefined) !== (s.capability === undefined), {
            message: 'each subtask names either an agentId or a capability',
          }),
      )
      .min(1, 'a plan needs at least one subtask; return { done: true, output } to finish'),
  }),
]);
export type SupervisorDecision = z.output<typeof supervisorDecisionSchema>;

/** A worker the supervisor may delegate to, as the state machine passes it in the task context. */
export interface WorkerInfo {
  readonly agentId: string;
  readonly capabilities: readonly string[];
}

/** A subtask ready for the workers' Map: `worker` indexes the coordination's worker list. */
export interface PlannedSubtask {
  readonly subtaskId: string;
  readonly worker: number;
  readonly agentId: string;
  readonly input: unknown;
}
