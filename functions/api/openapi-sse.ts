/**
 * The schema of a `text/event-stream` response: each server-sent event as JSON Schema 2020-12
 * (and OpenAPI 3.2) describe one — an object with the `event` type, the `id`, and `data`, a
 * string holding JSON (`contentMediaType`) that `dataSchema` describes (`contentSchema`). Tools
 * that read streams event by event (schemathesis among them) validate each event's data so.
 */
export function sseEvents(dataSchema: Record<string, unknown>): {
  schema: Record<string, unknown>;
} {
  return {
    schema: {
      type: 'object',
      properties: {
        event: { type: 'string', description: 'The event type' },
        id: { type: 'string', description: 'The event id (what `Last-Event-ID` resumes after)' },
        data: {
          type: 'string',
          contentMediaType: 'application/json',
          contentSchema: dataSchema,
        },
      },
      required: ['data'],
    },
  };
}
