import { parseRecords, supervisorTaskContextSchema } from '../../../statemachines/records.ts';
import { FatalAgentError } from '../messaging/agent-errors.ts';
import { supervisorDecisionSchema, type TaskRequest } from '../model/task.ts';
import { planSubtasks } from './subtasks.ts';

/**
 * True for the supervisor's step of a hierarchical coordination: the SDK checks what its handler
 * returns each round and turns it into the decision the state machine reads (superviseOutput).
 */
export function isSupervisorTask(task: TaskRequest): boolean {
  return task.pattern === 'hierarchical' && task.stepId === 'supervisor';
}

/** The round a supervisor task is for (1 when its context does not say). */
export function supervisorRound(task: TaskRequest): number {
  const context = supervisorTaskContextSchema.safeParse(task.context ?? {});
  return context.success ? context.data.round : 1;
}

/** A supervisor's output becomes `{ done: true, output }` or `{ done: false, subtasks }` with worker indexes. */
export function superviseOutput(raw: unknown, task: TaskRequest): unknown {
  const decision = supervisorDecisionSchema.safeParse(raw);
  if (!decision.success) {
    throw new FatalAgentError(
      `Supervisor returned neither { done: true, output } nor { subtasks: [...] }: ${decision.error.issues[0]?.message ?? 'invalid'}`,
    );
  }
  if (decision.data.done) return decision.data;
  const context = parseRecords(
    supervisorTaskContextSchema,
    task.context ?? {},
    'The supervisor task context',
  );
  const round = context.round;
  if (context.maxRounds !== undefined && round > context.maxRounds) {
    throw new FatalAgentError(
      `Supervisor planned more work in round ${round}, but maxRounds is ${context.maxRounds}: ` +
        'after the last round it must answer { done: true, output }.',
    );
  }
  return { done: false, subtasks: planSubtasks(decision.data, context.workers, round) };
}
