import { FatalAgentError } from '../messaging/agent-errors.ts';
import type { PlannedSubtask, SupervisorDecision, WorkerInfo } from '../model/task.ts';

/**
 * Turns a supervisor's plan into subtasks the workers' Map can run: each subtask names the index of
 * its worker in the coordination's worker list (the state machine looks the worker up by index).
 * A subtask may name a worker by id, or by capability — then the workers holding it take turns.
 * Naming anything outside the coordination's workers is the supervisor's mistake: FatalAgentError.
 */
export function planSubtasks(
  decision: Extract<SupervisorDecision, { done: false }>,
  workers: readonly WorkerInfo[],
  round: number,
): PlannedSubtask[] {
  const turns = new Map<string, number>();
  return decision.subtasks.map((subtask, i) => {
    let worker: number;
    if (subtask.agentId !== undefined) {
      worker = workers.findIndex((w) => w.agentId === subtask.agentId);
      if (worker < 0) {
        throw new FatalAgentError(
          `Subtask ${i} names agent ${subtask.agentId}, which is not a worker of this coordination ` +
            `(workers: ${workers.map((w) => w.agentId).join(', ')}).`,
        );
      }
    } else {
      const capability = subtask.capability as string;
      const holders = workers.flatMap((w, index) =>
        w.capabilities.includes(capability) ? [index] : [],
      );
      if (holders.length === 0) {
        throw new FatalAgentError(
          `Subtask ${i} needs capability ${capability}, which none of this coordination's workers holds.`,
        );
      }
      const turn = turns.get(capability) ?? 0;
      turns.set(capability, turn + 1);
      worker = holders[turn % holders.length] as number;
    }
    return {
      subtaskId: `r${round}-t${i + 1}`,
      worker,
      agentId: (workers[worker] as WorkerInfo).agentId,
      input: subtask.input,
    };
  });
}
