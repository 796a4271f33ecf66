import * as z from 'zod';

/** A day: no handler runs or message waits longer than a Step Functions standard task could track. */
const MAX_MS = 86_400_000;
/** 10 GB is Lambda's largest size; a whole machine may run the embedded runtime. */
const MAX_MB = 1_048_576;
const MAX_MESSAGES = 1_000_000_000;
/** SQS keeps a message 14 days at most: no message waits longer. */
export const MAX_WAIT_MS = 14 * MAX_MS;

/**
 * A measured figure, to a hundredth: DynamoDB refuses numbers smaller in magnitude than 1e-130
 * (a 500 before this), and no reading means more.
 */
const figure = (max: number) =>
  z
    .number()
    .min(0)
    .max(max)
    .transform((value) => Math.round(value * 100) / 100);

/**
 * An agent queue's figures, as the health monitor reads them with GetQueueAttributes once per
 * sweep and hands them to the agent in its ping (the agent's heartbeat stores them, so they cost
 * no write of their own). The age of the oldest message is not a queue attribute (only a
 * CloudWatch metric): the agent measures how long the messages it takes have waited instead.
 */
export const queueFiguresSchema = z.strictObject({
  /** ApproximateNumberOfMessages: waiting to be received. */
  depth: z.int().min(0).max(MAX_MESSAGES),
  /** ApproximateNumberOfMessagesNotVisible: received and being handled (or about to reappear). */
  inFlight: z.int().min(0).max(MAX_MESSAGES),
  /** ApproximateNumberOfMessages of its dead-letter queue; absent when it has none the monitor could read. */
  deadLetters: z.int().min(0).max(MAX_MESSAGES).optional(),
  /** When the monitor read them (epoch ms). */
  readAt: z.int().min(0),
});
export type QueueFigures = z.output<typeof queueFiguresSchema>;

/**
 * What the agent SDK measures in its own process and reports with each heartbeat: the figures of
 * the one container (Lambda execution environment) that answered the ping. EMF metrics aggregate
 * across containers.
 */
export const utilisationReportSchema = z.strictObject({
  /** Handler duration percentiles over the SDK's rolling window (its last 256 runs, 5 minutes at most). */
  durationP50Ms: figure(MAX_MS).optional(),
  durationP99Ms: figure(MAX_MS).optional(),
  /** How many handler runs the percentiles are over. */
  durationSamples: z.int().min(0).max(MAX_MESSAGES).optional(),
  /** Resident set size of the process (`process.memoryUsage().rss`). */
  memoryUsedMB: figure(MAX_MB).optional(),
  /** The Lambda function's memory size; absent outside Lambda. */
  memorySizeMB: figure(MAX_MB).optional(),
  /** The longest a queued message had waited when the agent took it, since its previous heartbeat. */
  oldestMessageAgeMs: figure(MAX_WAIT_MS).optional(),
});
export type UtilisationReport = z.output<typeof utilisationReportSchema>;

/** Utilisation as the registry shows it: every figure null until something reported it. */
export interface AgentUtilisation {
  /** Work the agent was doing at its last heartbeat, against its card's `maxConcurrency`. */
  readonly inFlight: number;
  readonly maxConcurrency: number | null;
  readonly durationP50Ms: number | null;
  readonly durationP99Ms: number | null;
  readonly durationSamples: number | null;
  readonly memoryUsedMB: number | null;
  readonly memorySizeMB: number | null;
  readonly oldestMessageAgeMs: number | null;
  readonly queueDepth: number | null;
  readonly queueInFlight: number | null;
  readonly deadLetterDepth: number | null;
  /** When the queue figures were read (ISO 8601); null when never. */
  readonly queueReadAt: string | null;
}
