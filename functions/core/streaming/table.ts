/**
 * The coordination event log's table. The CDK construct and the emulator bootstrap
 * (ensureEventsTable) both build it from this description, so the two can never drift.
 *
 * One item collection per coordination (partition `coordinationId`, sort key `seq`, a number):
 *   head item   seq 0        `head`: the last event id allocated; `start#<key>`: countStart's
 *                            counters; `finished`: the id of coordination.finished, once appended;
 *                            the coordination's summary (below).
 *   event item  seq = first  `count` events with ids seq … seq + count - 1, as one JSON array in
 *                            `events`, appended at `time` (ISO 8601). An append writes one such
 *                            item, or a few when its events would not fit ~350 KB.
 *
 * The head item also keeps the coordination's summary, for GET /coordinations: the UpdateItem that
 * allocates the ids of an append holding `coordination.started` sets `listKey` (always LIST_KEY),
 * `startedKey` (`<startedAt>#<coordinationId>`), `pattern`, `mode`, `startedAt`, `steps` (how many)
 * and `agents`, and `status` 'running' unless it is set already; one holding
 * `coordination.finished` sets `status`, `finishedAt` and `totalMs` (and, for a hierarchical run,
 * `steps` and `agents` again: what it ran, which its plan cannot know). The `byStart` index (partition
 * `listKey`, sort `startedKey`, those attributes projected) lists every coordination newest first;
 * only head items carry its keys, and they leave it when TTL removes the head.
 *
 * Every item carries `expiresAt` (epoch seconds), and DynamoDB's TTL removes each item on its own:
 * an event item a week after its own append, the head a week after the coordination's last append
 * or countStart (the only item whose `expiresAt` moves). So a coordination that runs longer than a
 * week loses the start of its log first, while its later events and its head remain; a follower
 * replaying it is told the start has expired and goes on from the first event still there. Nothing
 * reads `expiresAt`. See DynamoEventLog (dynamo-event-log.ts) for how ids are allocated and read back.
 */
export const EVENTS_TABLE = {
  partitionKey: 'coordinationId',
  sortKey: 'seq',
  ttlAttribute: 'expiresAt',
  /** How long each item stays after it was written (the head: after its last update): 7 days. */
  retentionSeconds: 7 * 24 * 60 * 60,
  /** GET /coordinations: every coordination's head item, newest first. */
  listIndex: {
    name: 'byStart',
    partitionKey: 'listKey',
    sortKey: 'startedKey',
    /** The summary attributes the listing answers from, projected into the index. */
    attributes: [
      'pattern',
      'mode',
      'status',
      'startedAt',
      'finishedAt',
      'totalMs',
      'steps',
      'agents',
    ],
  },
} as const;

/**
 * The one `listKey` every head item carries. One partition holds the whole listing, so that one
 * Query pages through it newest first, `since` being a key condition. Its price is the index's
 * write rate: one partition takes about 1 000 writes a second, and every coordination writes its
 * summary twice (start and end; the appends in between change nothing the index holds, which
 * DynamoDB does not write to the index): about 500 coordinations a second, sustained, before the
 * index throttles — and an index that throttles slows the table's writes. Past that, shard the key.
 */
export const LIST_KEY = 'coordinations';
