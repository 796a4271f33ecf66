import * as z from 'zod';

/**
 * Any JSON value. One shared instance rather than a `z.json()` per field: the schema is recursive,
 * and a JSON Schema generator can only name a recursive schema it recognises (the OpenAPI document
 * refers to it as `JsonValue`); each fresh `z.json()` would be a nameless copy of its own.
 */
export const jsonValueSchema = z.json();
