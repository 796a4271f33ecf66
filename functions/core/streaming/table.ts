/**
 * The coordination event log's table. The CDK construct and the emulator bootstrap
 * (ensureEventsTable) both build it from this description, so the two can never drift.
 *
 * One item collection per coordination (partition `coordinationId`, sort key `seq`, a number):
 *   head item   seq 0        `head`: the last event id allocated; `start#<key>`: countStart's
 *                            counters; `finished`: the id of coordination.finished, once appended.
 *   event item  seq = first  `count` events with ids seq … seq + count - 1, as one JSON array in
 *                            `events`, appended at `time` (ISO 8601). An append writes one such
 *                            item, or a few when its events would not fit ~350 KB.
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
} as const;
