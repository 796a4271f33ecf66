import { GetExecutionHistoryCommand, type HistoryEvent, type SFNClient } from '@aws-sdk/client-sfn';
import type { ExecutionProgress } from './execution.ts';

/** History read for a failed run's progress: 5 × 200 events covers any Mobius run's last state. */
const HISTORY_PAGES = 5;
const HISTORY_PAGE_SIZE = 200;

/**
 * How far a failed, timed-out or cancelled standard run had got, from its newest history events:
 * at most HISTORY_PAGES pages, read until the newest top-level state shows up (usually the first
 * page). Read where such a run's result is shaped: GET /coordinations/{id} (StepFunctionsEngine)
 * and the monitor that ends its event log.
 */
export async function readProgress(
  sfn: SFNClient,
  executionArn: string,
): Promise<ExecutionProgress | undefined> {
  const events: HistoryEvent[] = [];
  let nextToken: string | undefined;
  for (let page = 0; page < HISTORY_PAGES; page++) {
    const response = await sfn.send(
      new GetExecutionHistoryCommand({
        executionArn,
        reverseOrder: true,
        includeExecutionData: true,
        maxResults: HISTORY_PAGE_SIZE,
        ...(nextToken ? { nextToken } : {}),
      }),
    );
    events.push(...(response.events ?? []));
    // Newest first by event id: an engine that ignores reverseOrder (moto) is read right too.
    const progress = progressFromHistory(events.toSorted((a, b) => (b.id ?? 0) - (a.id ?? 0)));
    if (progress !== undefined) return progress;
    nextToken = response.nextToken;
    if (nextToken === undefined) return undefined;
  }
  return undefined;
}

/**
 * How far a standard execution that failed or timed out had got, read from its history (newest
 * events first, with execution data): the input of the newest top-level state it entered is the
 * execution state when it stopped — the records of the steps that had succeeded, outputs included
 * — and tasks scheduled without an end were still running. The embedded engine learns the same by
 * watching its interpreter (functions/embedded/local-executor.ts).
 *
 * Top-level states are told apart from Map iterations by their data: only the top level carries
 * the execution input's `coordinationId`, `pattern` and `steps` (iterations see what ItemSelector
 * gives them). Returns undefined when the events read hold no such state (a history longer than
 * what was read, or data Step Functions left out for size).
 */
export function progressFromHistory(
  newestFirst: readonly HistoryEvent[],
): ExecutionProgress | undefined {
  let stopped: { state: unknown; stoppedIn: string } | undefined;
  for (const event of newestFirst) {
    const entered = event.stateEnteredEventDetails;
    if (entered?.input === undefined) continue;
    const state = parseJson(entered.input);
    if (isExecutionState(state)) {
      stopped = { state, stoppedIn: entered.name ?? '' };
      break;
    }
  }
  if (stopped === undefined) return undefined;
  return { ...stopped, running: runningTasks(newestFirst) };
}

const TASK_ENDS = new Set([
  'TaskSucceeded',
  'TaskFailed',
  'TaskTimedOut',
  'TaskStartFailed',
  'TaskSubmitFailed',
]);

/** Agent tasks scheduled and never ended: what a timeout (or a stop) cut off while they worked. */
function runningTasks(newestFirst: readonly HistoryEvent[]): ExecutionProgress['running'] {
  const byId = new Map(newestFirst.map((event) => [event.id, event]));
  const ended = new Set<number | undefined>();
  for (const event of newestFirst) {
    if (!TASK_ENDS.has(event.type ?? '')) continue;
    // An end points back through TaskStarted/TaskSubmitted to the TaskScheduled it ends.
    let cursor: HistoryEvent | undefined = event;
    for (let hops = 0; cursor !== undefined && hops < 4; hops++) {
      if (cursor.type === 'TaskScheduled') {
        ended.add(cursor.id);
        break;
      }
      cursor = byId.get(cursor.previousEventId);
    }
  }
  const running: { agentId: string; stepId: string }[] = [];
  for (const event of [...newestFirst].reverse()) {
    if (event.type !== 'TaskScheduled' || ended.has(event.id)) continue;
    const task = taskOf(event.taskScheduledEventDetails?.parameters);
    if (task !== undefined) running.push(task);
  }
  return running;
}

/**
 * The agent and step of a scheduled task, from its parameters: a Lambda invoke's `Payload`, or a
 * task-token message's `MessageBody` (both carry the Mobius task the compiler built).
 */
function taskOf(parameters: string | undefined): { agentId: string; stepId: string } | undefined {
  const parsed = parseJson(parameters);
  if (!isObject(parsed)) return undefined;
  const body = isObject(parsed.Payload) ? parsed.Payload : parsed.MessageBody;
  const task = typeof body === 'string' ? parseJson(body) : body;
  if (!isObject(task)) return undefined;
  const { agentId, stepId } = task;
  return typeof agentId === 'string' && typeof stepId === 'string'
    ? { agentId, stepId }
    : undefined;
}

function isExecutionState(value: unknown): value is Record<string, unknown> {
  return (
    isObject(value) &&
    typeof value.coordinationId === 'string' &&
    typeof value.pattern === 'string' &&
    isObject(value.steps)
  );
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function parseJson(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
