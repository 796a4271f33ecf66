import * as z from 'zod';
import { patternSchema } from '../../../statemachines/request.ts';
import { jsonValueSchema } from '../model/json-value.ts';

/**
 * The live events of a coordination, as `GET /coordinations/{id}/events` streams them (SSE) and
 * the event log keeps them. Each maps one to one onto an A2A streaming event (see
 * docs/streaming.md): `step.chunk` and `step.succeeded` are artifact updates (artifactId = stepId,
 * appended; the success closes the artifact), the others are task status updates, and
 * `coordination.finished` is the final one.
 */
export const COORDINATION_EVENT_TYPES = [
  'coordination.started',
  'step.started',
  'step.chunk',
  'step.retried',
  'step.fallback',
  'step.succeeded',
  'step.failed',
  'coordination.finished',
] as const;
export type CoordinationEventType = (typeof COORDINATION_EVENT_TYPES)[number];

/** How a coordination ended: its result's status. `cancelled`: stopped by an operator. */
export const FINISHED_STATUSES = ['succeeded', 'partial', 'failed', 'cancelled'] as const;
export type FinishedStatus = (typeof FINISHED_STATUSES)[number];

/** Where a coordination stands, as GET /coordinations lists it: running, or how it ended. */
export const COORDINATION_STATUSES = ['running', ...FINISHED_STATUSES] as const;
export type CoordinationStatus = (typeof COORDINATION_STATUSES)[number];

const chunkSchema = z.union([
  z.strictObject({ seq: z.int().min(0), text: z.string() }),
  z.strictObject({ seq: z.int().min(0), data: jsonValueSchema }),
]);

const stepFields = {
  stepId: z.string(),
  agentId: z.string(),
  /** Which candidate took the step: 0 the agent planned, 1… its fallbacks in order. */
  candidate: z.int().min(0).optional(),
  /** 1 for the first try of this candidate, 2… for Step Functions' retries. */
  attempt: z.int().min(1).optional(),
  /** Hierarchical supervisor steps: the round. */
  round: z.int().min(1).optional(),
};

/** What a writer appends; the log gives each its `id` and `time`. */
export const coordinationEventInputSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('coordination.started'),
    pattern: z.string(),
    mode: z.enum(['express', 'standard']),
    /** The agent planned first for each step, in order. */
    steps: z.array(z.object({ stepId: z.string(), agentId: z.string() })),
  }),
  z.object({ type: z.literal('step.started'), ...stepFields }),
  z.object({ type: z.literal('step.retried'), ...stepFields }),
  z.object({ type: z.literal('step.fallback'), ...stepFields }),
  z.object({ type: z.literal('step.chunk'), ...stepFields, chunk: chunkSchema }),
  z.object({
    type: z.literal('step.succeeded'),
    ...stepFields,
    output: jsonValueSchema,
    durationMs: z.number().min(0),
    /** True when the output was too large for the log: `output` is then null (the run has it). */
    outputOmitted: z.literal(true).optional(),
  }),
  z.object({
    type: z.literal('step.failed'),
    ...stepFields,
    error: z.string(),
    cause: z.string().nullable(),
  }),
  z.object({
    type: z.literal('coordination.finished'),
    status: z.enum(FINISHED_STATUSES),
    /** The coordination result, exactly as GET /coordinations/{id} answers it. */
    result: jsonValueSchema,
  }),
]);
export type CoordinationEventInput = z.output<typeof coordinationEventInputSchema>;

/** An event as readers see it. */
export type CoordinationEvent = CoordinationEventInput & {
  /** Position in the coordination's log, from 1; SSE `id:`, and what `Last-Event-ID` resumes after. */
  readonly id: number;
  readonly coordinationId: string;
  /** When it was appended (ISO 8601). */
  readonly time: string;
};

export function isFinal(event: { readonly type: string }): boolean {
  return event.type === 'coordination.finished';
}

/**
 * One coordination as GET /coordinations lists it: what its event log's head item keeps about it,
 * written by the appends of its `coordination.started` (pattern, mode, start, steps, agents) and
 * `coordination.finished` (status, end, duration). See DynamoEventLog.list.
 */
export const coordinationSummarySchema = z.object({
  coordinationId: z.string(),
  pattern: patternSchema,
  mode: z.enum(['express', 'standard']),
  status: z.enum(COORDINATION_STATUSES),
  /** When its `coordination.started` was logged (ISO 8601). */
  startedAt: z.iso.datetime(),
  /** When its `coordination.finished` was logged; null while it runs. */
  finishedAt: z.iso.datetime().nullable(),
  /** Its result's `timings.totalMs`; null while it runs. */
  totalMs: z.number().min(0).nullable(),
  /**
   * How many steps it was planned with. A hierarchical run, once ended, how many it ran: each
   * supervisor round and worker task (planned, it is its supervisor alone).
   */
  steps: z.int().min(0),
  /**
   * The agents planned first for its steps, each once, in step order; a hierarchical run's, once
   * ended, the agents that ran its steps.
   */
  agents: z.array(z.string()),
});
export type CoordinationSummary = z.output<typeof coordinationSummarySchema>;

/** How many coordinations a page of GET /coordinations holds when the caller does not say. */
export const DEFAULT_LIST_LIMIT = 25;

/**
 * GET /coordinations' query: every field optional, each checked by name (a bad one is a 400
 * naming it). `since` is an ISO 8601 date-time, with or without an offset (then it is UTC).
 */
export const coordinationListQuerySchema = z.strictObject({
  status: z.enum(COORDINATION_STATUSES).optional(),
  pattern: patternSchema.optional(),
  since: z.iso
    .datetime({
      offset: true,
      error: 'since must be an ISO 8601 date-time, e.g. 2026-12-01T09:00:00Z',
    })
    .optional(),
  limit: z.coerce
    .number({ error: 'limit must be a whole number from 1 to 100' })
    .int('limit must be a whole number from 1 to 100')
    .min(1, 'limit must be a whole number from 1 to 100')
    .max(100, 'limit must be a whole number from 1 to 100')
    .default(DEFAULT_LIST_LIMIT),
  nextToken: z.string().min(1).max(8192).optional(),
});
/** A listing as the log takes it: the query parsed, any field left out (limit: DEFAULT_LIST_LIMIT). */
export type CoordinationListQuery = Partial<z.output<typeof coordinationListQuerySchema>>;
