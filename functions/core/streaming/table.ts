/**
 * The coordination event log's table. The CDK construct and the emulator bootstrap
 * (ensureEventsTable) both build it from this description, so the two can never drift.
 *
 * One item collection per coordination (partition `coordinationId`, sort key `seq`, a number):
 *   head item   seq 0        `head`: the last event id allocated; `start#<key>`: countStart's
 *                            counters. Its `expiresAt` moves forward with every append.
 *   event item  seq = first  `count` events with ids seq … seq + count - 1, as one JSON array in
 *                            `events`, appended at `time` (ISO 8601). An append writes one such
 *                            item, or a few when its events would not fit ~350 KB.
 *
 * Every item carries `expiresAt` (epoch seconds): DynamoDB's TTL removes a coordination's log a
 * week after its last append. Nothing reads `expiresAt`; the log is only ever read while a run is
 * recent. See DynamoEventLog (dynamo-event-log.ts) for how ids are allocated and read back.
 */
export const EVENTS_TABLE = {
  partitionKey: 'coordinationId',
  sortKey: 'seq',
  ttlAttribute: 'expiresAt',
  /** How long a coordination's events stay after its last append: 7 days. */
  retentionSeconds: 7 * 24 * 60 * 60,
} as const;
