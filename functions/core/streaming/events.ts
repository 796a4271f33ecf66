import * as z from 'zod';
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
    status: z.enum(['succeeded', 'partial', 'failed']),
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
