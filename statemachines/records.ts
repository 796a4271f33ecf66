import * as z from 'zod';
import { taskResultSchema } from '../functions/core/model/task.ts';

/**
 * The execution-record layout: what the compiled machines (tasks.ts and the patterns) write into
 * the execution state, and what the result shaper (functions/coordination/result.ts), the
 * supervisor SDK and the tests read back. It is declared here once, beside the compiler that
 * writes it, and parsed with these schemas wherever it is read: change both sides together.
 *
 * A step's record (`$.steps.<id>`, one fan-out or worker iteration's output, `$.decision`) holds
 * - `outcome`: `{ ok, attempt, result }` on success, `{ ok: false, attempt, agentId }` when best
 *   effort recorded a failure (a pipeline also carries the last good `result` on);
 * - `k<n>`: candidate n's error as the Task's Catch wrote it, `{ Error, Cause }`;
 * - `stepId`: fan-out and worker records name their step (workers: the subtask id).
 */

/** Where candidate k's error goes in its step's record. */
export const candidateErrorKey = (k: number): `k${number}` => `k${k}`;

/** What a Catch writes: the error name and its cause (Lambda and the SDK put JSON in it). */
export const candidateErrorSchema = z.object({
  Error: z.string(),
  Cause: z.string().nullish(),
});
export type CandidateError = z.output<typeof candidateErrorSchema>;

export const stepOutcomeSchema = z.object({
  ok: z.boolean(),
  /** 0 for the agent itself, n for its n-th fallback: the candidate that answered, or tried last. */
  attempt: z.int().min(0),
  /** On a recorded failure: the last candidate tried. */
  agentId: z.string().optional(),
  /** On success: the agent's task result. On a recorded pipeline failure: the result carried on. */
  result: taskResultSchema.optional(),
});
export type StepOutcome = z.output<typeof stepOutcomeSchema>;

const CANDIDATE_ERROR_KEY = /^k\d+$/;

export const stepRecordSchema = z
  .looseObject({
    stepId: z.string().optional(),
    outcome: stepOutcomeSchema.optional(),
  })
  .superRefine((record, ctx) => {
    for (const [key, value] of Object.entries(record)) {
      if (!CANDIDATE_ERROR_KEY.test(key)) continue;
      const parsed = candidateErrorSchema.safeParse(value);
      if (!parsed.success)
        ctx.addIssue({ code: 'custom', path: [key], message: 'expected { Error, Cause }' });
    }
  });
export type StepRecord = z.output<typeof stepRecordSchema>;

/** Candidate k's error in a record, if it failed. */
export function candidateError(
  record: StepRecord | undefined,
  k: number,
): CandidateError | undefined {
  const error = record?.[candidateErrorKey(k)];
  // Checked when the record was parsed (stepRecordSchema): absent, or { Error, Cause }.
  return error === undefined ? undefined : (error as CandidateError);
}

/** The state a compiled machine ends with (its input plus what the run wrote into it). */
export const executionStateSchema = z.looseObject({
  /** sequential, pipeline: records by step id. */
  steps: z.record(z.string(), stepRecordSchema).default({}),
  /** parallel, scatter_gather: one record per item. */
  results: z.array(stepRecordSchema).optional(),
  /** hierarchical: the supervisor's last record, and the rounds before it. */
  decision: stepRecordSchema.optional(),
  loop: z.object({ round: z.int(), history: z.array(z.unknown()) }).optional(),
  /** hierarchical: the workers' records of the last round that ran. */
  lastResults: z.array(stepRecordSchema).optional(),
  /**
   * The input's gather strategy, which a scatter_gather's gather step overwrites with what it
   * counted (the shaper reads the strategy from the execution input, never from here).
   */
  gather: z
    .union([
      z.string(),
      z.object({ anySucceeded: z.boolean().optional(), successes: z.int().optional() }),
    ])
    .optional(),
});
export type ExecutionState = z.output<typeof executionStateSchema>;

/**
 * Reads a state the compiled machines wrote. A mismatch is a bug on our side (the machine and
 * this layout disagree), never the caller's: it is an Error, not a validation failure.
 */
export function parseRecords<S extends z.ZodType>(
  schema: S,
  value: unknown,
  what: string,
): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  throw new Error(
    `${what} does not have the layout the compiled machines write (statemachines/records.ts): ${z.prettifyError(parsed.error)}`,
  );
}

/** One round of a hierarchical run: the supervisor's record and its workers' records. */
export interface Round {
  readonly decision: StepRecord | undefined;
  readonly results: StepRecord[];
}

/**
 * A hierarchical run keeps its rounds as nested arrays `[history, decision, results]` in
 * `$.loop.history` (ASL cannot append to a list); this turns them back into rounds, oldest first.
 */
export function unrollHistory(history: readonly unknown[]): Round[] {
  const rounds: Round[] = [];
  let node: readonly unknown[] = history;
  while (node.length === 3 && Array.isArray(node[0])) {
    rounds.unshift({
      decision:
        node[1] === undefined
          ? undefined
          : parseRecords(stepRecordSchema, node[1], 'a supervisor record'),
      results: parseRecords(z.array(stepRecordSchema), node[2] ?? [], 'a round of worker records'),
    });
    node = node[0] as unknown[];
  }
  return rounds;
}

/**
 * The cause a compiled machine fails with once every candidate of a step failed:
 * `<agent> failed at step <step>: <the agent's cause>`, built by States.Format.
 */
export function failureCauseExpression(
  agentPath: string,
  stepArgument: string,
  causePath: string,
): string {
  return `States.Format('{} failed at step {}: {}', ${agentPath}, ${stepArgument}, ${causePath})`;
}

const FAILURE_CAUSE = /^\[?([A-Za-z0-9._-]+)\]? failed at step ([A-Za-z0-9._-]+): ([\s\S]*)$/;

/** Splits a cause built by failureCauseExpression back up; undefined for any other cause. */
export function parseFailureCause(
  cause: string,
): { agentId: string; stepId: string; cause: string } | undefined {
  const match = FAILURE_CAUSE.exec(cause);
  if (match === null) return undefined;
  return { agentId: match[1] ?? '', stepId: match[2] ?? '', cause: match[3] ?? '' };
}

/** The context the compiled machine sends a hierarchical supervisor each round (hierarchical.ts). */
export const supervisorTaskContextSchema = z.object({
  round: z.int().min(1).default(1),
  /** Absent only for supervisors called outside a compiled machine (tests, hand-made tasks). */
  maxRounds: z.int().min(1).optional(),
  workers: z
    .array(z.object({ agentId: z.string(), capabilities: z.array(z.string()) }))
    .default([]),
  /** Last round's worker records. */
  results: z.array(stepRecordSchema).default([]),
  /** Every round so far, nested as `$.loop.history` keeps them. */
  history: z.array(z.unknown()).default([]),
});
export type SupervisorTaskContext = z.output<typeof supervisorTaskContextSchema>;
