import * as z from 'zod';
import { capabilityNameSchema, identifierSchema } from '../functions/core/model/agent-card.ts';
import { jsonValueSchema } from '../functions/core/model/json-value.ts';
import { semverRangeSchema } from '../functions/core/model/semver-range.ts';
import { DEFAULT_MIN_FUZZY_SCORE } from '../functions/core/registry/fuzzy.ts';

/**
 * The coordination request. It accepts the original spec's shape verbatim —
 *   { pattern, agents: [ids], payload, timeout, failure_mode }
 * — plus richer optional fields. Every field is validated here, before anything is resolved or run.
 */

export const PATTERNS = [
  'sequential',
  'pipeline',
  'parallel',
  'scatter_gather',
  'hierarchical',
] as const;
export const patternSchema = z.enum(PATTERNS, {
  error: `pattern must be one of ${PATTERNS.join(', ')}`,
});
export type Pattern = z.output<typeof patternSchema>;

export const FAILURE_MODES = ['fail_fast', 'best_effort', 'retry'] as const;
export const failureModeSchema = z.enum(FAILURE_MODES, {
  error: `failure_mode must be one of ${FAILURE_MODES.join(', ')}`,
});
export type FailureMode = z.output<typeof failureModeSchema>;

/** StartSyncExecution runs an Express workflow for at most five minutes. */
export const EXPRESS_MAX_SECONDS = 300;

/** Coordinations with no `timeout` get this long: Express's maximum, or an hour for Standard. */
export const DEFAULT_COORDINATION_SECONDS = {
  express: EXPRESS_MAX_SECONDS,
  standard: 3600,
} as const;
/** Standard workflows run up to a year; coordinations are capped at a day to keep mistakes cheap. */
export const STANDARD_MAX_SECONDS = 86_400;
export const DEFAULT_STEP_TIMEOUT_SECONDS = 60;
export const MAX_FALLBACKS = 3;

/** Names an agent by capability instead of id; resolved through the registry before execution. */
export const capabilityRefSchema = z.strictObject({
  capability: capabilityNameSchema,
  version: semverRangeSchema.optional(),
  match: z.enum(['exact', 'fuzzy']).default('exact'),
  minScore: z.number().min(0).max(1).default(DEFAULT_MIN_FUZZY_SCORE),
});
export type CapabilityRef = z.output<typeof capabilityRefSchema>;

/** An agent id, or a capability reference. */
export const agentRefSchema = z.union([identifierSchema, capabilityRefSchema], {
  error:
    'give an agent id (string) or a capability reference such as { "capability": "summarize" }',
});
export type AgentRef = z.output<typeof agentRefSchema>;

export const retryPolicySchema = z.strictObject({
  /** Retries after the first attempt. */
  attempts: z.int().min(1).max(10).default(3),
  intervalSeconds: z.int().min(1).max(300).default(1),
  backoffRate: z.number().min(1).max(10).default(2),
  maxDelaySeconds: z.int().min(1).max(3600).optional(),
  /** FULL spreads retries of many callers over the whole backoff interval. */
  jitter: z.enum(['full', 'none']).default('full'),
});
export type RetryPolicy = z.output<typeof retryPolicySchema>;
export const DEFAULT_RETRY_POLICY: RetryPolicy = retryPolicySchema.parse({});

/** State names the compiler uses itself; a step cannot take one. */
export const RESERVED_STEP_IDS = [
  'Agent',
  'AnySucceeded',
  'CoordinationFailed',
  'CountSuccesses',
  'Decide',
  'Done',
  'FanOut',
  'Gather',
  'ItemFailed',
  'NextRound',
  'QuorumMet',
  'QuorumNotMet',
  'RoundsExhausted',
  'Supervisor',
  'Worker',
  'WorkerFailed',
  'Workers',
  'supervisor',
] as const;

/** Step ids become state names and JSONPath fields, hence letters, digits and "_" only. */
export const stepIdSchema = z
  .string()
  .regex(
    /^[A-Za-z][A-Za-z0-9_]{0,39}$/,
    'step ids are 1-40 letters, digits or "_", starting with a letter',
  )
  .refine((id) => !(RESERVED_STEP_IDS as readonly string[]).includes(id), {
    message: `that step id is reserved; avoid ${RESERVED_STEP_IDS.join(', ')}`,
  });

export const stepSchema = z
  .strictObject({
    id: stepIdSchema.optional(),
    agent: identifierSchema.optional(),
    capability: capabilityNameSchema.optional(),
    version: semverRangeSchema.optional(),
    match: z.enum(['exact', 'fuzzy']).optional(),
    /** What this step's agent works on (an object); defaults to the coordination payload. */
    input: z
      .record(z.string(), jsonValueSchema, { error: 'step input must be a JSON object' })
      .optional(),
    /** Seconds this step may take (each attempt), default `stepTimeout`. */
    timeout: z.int().min(1).max(STANDARD_MAX_SECONDS).optional(),
    /** Tried in order when the agent fails; capability steps fall back to the next-ranked agents. */
    fallbacks: z
      .array(agentRefSchema)
      .max(MAX_FALLBACKS, `at most ${MAX_FALLBACKS} fallbacks per step`)
      .optional(),
  })
  .superRefine((step, ctx) => {
    if ((step.agent === undefined) === (step.capability === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['agent'],
        message: 'give either "agent" (an id) or "capability", not both or neither',
      });
    }
    if (step.agent !== undefined && (step.version !== undefined || step.match !== undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['version'],
        message: '"version" and "match" only apply to capability steps',
      });
    }
  });
export type StepSpec = z.output<typeof stepSchema>;

export const gatherSchema = z
  .strictObject({
    /**
     * collect: every result, in target order · merge: the successful outputs shallow-merged (objects)
     * · first_successful: the first agent to succeed wins · quorum: succeeds once `quorum` agents do.
     */
    strategy: z.enum(['collect', 'merge', 'first_successful', 'quorum']).default('collect'),
    quorum: z.int().min(1).optional(),
  })
  .superRefine((gather, ctx) => {
    if ((gather.strategy === 'quorum') !== (gather.quorum !== undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['quorum'],
        message: 'the quorum strategy needs "quorum": N (and only it takes one)',
      });
    }
  });
export type GatherSpec = z.output<typeof gatherSchema>;

export const coordinationRequestSchema = z
  .strictObject({
    pattern: patternSchema,
    /** The original spec's agent list. For hierarchical: the first is the supervisor, the rest workers. */
    agents: z.array(identifierSchema).min(1, 'list at least one agent').max(500).optional(),
    /** Richer alternative to `agents`: ids or capabilities, with per-step input, timeout and fallbacks. */
    steps: z.array(stepSchema).min(1, 'list at least one step').max(500).optional(),
    payload: z.record(z.string(), jsonValueSchema).default({}),
    /** Seconds for the whole coordination. */
    timeout: z.int().min(1).max(STANDARD_MAX_SECONDS).optional(),
    /**
     * Default per-step timeout in seconds (each attempt), DEFAULT_STEP_TIMEOUT_SECONDS when left out.
     * Optional here, filled in below, so that a value the caller gave can be told from the default.
     */
    stepTimeout: z
      .int()
      .min(1)
      .max(STANDARD_MAX_SECONDS)
      .optional()
      .meta({ default: DEFAULT_STEP_TIMEOUT_SECONDS }),
    failure_mode: failureModeSchema.default('fail_fast'),
    retry: retryPolicySchema.optional(),
    gather: gatherSchema.optional(),
    supervisor: agentRefSchema.optional(),
    workers: z.array(agentRefSchema).min(1, 'list at least one worker').max(100).optional(),
    maxRounds: z.int().min(1).max(10).default(3),
    /** How many agents a capability reference may fan out to (scatter-gather, workers). */
    maxAgentsPerCapability: z.int().min(1).max(500).default(100),
    mode: z.enum(['express', 'standard']).default('express'),
  })
  .superRefine((request, ctx) => {
    const issue = (path: (string | number)[], message: string) =>
      ctx.addIssue({ code: 'custom', path, message });
    const hierarchical = request.pattern === 'hierarchical';

    if (hierarchical) {
      if (request.steps !== undefined)
        issue(
          ['steps'],
          'hierarchical coordinations take "supervisor" and "workers" (or "agents"), not "steps"',
        );
      const named = request.supervisor !== undefined || request.workers !== undefined;
      if (named && request.agents !== undefined)
        issue(['agents'], 'give either "agents" or "supervisor" + "workers", not both');
      if (!named && request.agents === undefined)
        issue(
          ['supervisor'],
          'name a "supervisor" and its "workers" (or list "agents": supervisor first)',
        );
      if (named && (request.supervisor === undefined || request.workers === undefined)) {
        issue(
          [request.supervisor === undefined ? 'supervisor' : 'workers'],
          'hierarchical coordinations need both "supervisor" and "workers"',
        );
      }
      if (request.agents !== undefined && request.agents.length < 2)
        issue(['agents'], 'list the supervisor first, then at least one worker');
    } else {
      if ((request.agents === undefined) === (request.steps === undefined)) {
        issue(['agents'], 'give either "agents" (ids) or "steps", not both or neither');
      }
      for (const key of ['supervisor', 'workers'] as const) {
        if (request[key] !== undefined)
          issue([key], `"${key}" only applies to the hierarchical pattern`);
      }
    }
    if (request.gather !== undefined && request.pattern !== 'scatter_gather') {
      issue(['gather'], '"gather" only applies to the scatter_gather pattern');
    }
    const quorum = request.gather?.quorum;
    const listed = request.agents?.length ?? request.steps?.length;
    const fansOut = request.steps?.some((s) => s.capability !== undefined) ?? false;
    if (quorum !== undefined && listed !== undefined && !fansOut && quorum > listed) {
      issue(
        ['gather', 'quorum'],
        `quorum ${quorum} cannot be met by ${listed} agents; lower it or add agents`,
      );
    }
    if (request.pattern === 'pipeline') {
      request.steps?.forEach((step, i) => {
        if (i > 0 && step.input !== undefined) {
          issue(
            ['steps', i, 'input'],
            'in a pipeline each step works on the previous output; only the first step takes "input"',
          );
        }
      });
    }
    const ids = request.steps?.map((s, i) => s.id ?? `step${i + 1}`) ?? [];
    ids.forEach((id, i) => {
      if (ids.indexOf(id) !== i)
        issue(['steps', i, 'id'], `step id "${id}" is used twice; step ids must be unique`);
    });

    const limit = request.mode === 'express' ? EXPRESS_MAX_SECONDS : STANDARD_MAX_SECONDS;
    if (request.timeout !== undefined && request.timeout > limit) {
      issue(
        ['timeout'],
        request.mode === 'express'
          ? `express coordinations run at most ${EXPRESS_MAX_SECONDS} s; use "mode": "standard" for longer work`
          : `coordinations run at most ${STANDARD_MAX_SECONDS} s`,
      );
    }
    // A step may not outlast the coordination: an explicit stepTimeout or step timeout longer than
    // `timeout` (or the mode's default) is refused. The default step timeout is not: a shorter
    // coordination timeout simply ends the run first.
    const whole = request.timeout ?? DEFAULT_COORDINATION_SECONDS[request.mode];
    const longerThanWhole =
      request.timeout === undefined
        ? `a step cannot take longer than the whole coordination (${whole} s by default in ${request.mode} mode); lower it or set "timeout"`
        : `a step cannot take longer than the whole coordination ("timeout": ${whole} s); lower it or raise "timeout"`;
    if (request.stepTimeout !== undefined && request.stepTimeout > whole)
      issue(['stepTimeout'], longerThanWhole);
    request.steps?.forEach((step, i) => {
      if (step.timeout !== undefined && step.timeout > whole)
        issue(['steps', i, 'timeout'], longerThanWhole);
    });
  })
  .transform((request) => ({
    ...request,
    stepTimeout: request.stepTimeout ?? DEFAULT_STEP_TIMEOUT_SECONDS,
  }));

export type CoordinationRequestInput = z.input<typeof coordinationRequestSchema>;
export type CoordinationRequest = z.output<typeof coordinationRequestSchema>;

/** Step ids default to step1, step2, … in request order. */
export function stepIdAt(step: StepSpec | undefined, index: number): string {
  return step?.id ?? `step${index + 1}`;
}
