import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import SwaggerParser from '@apidevtools/swagger-parser';
import { describe, expect, it } from 'vitest';
import type * as z from 'zod';
import { ROUTES } from '../../functions/api/app.ts';
import type { ApiDependencies } from '../../functions/api/dependencies.ts';
import type { ApiEvent } from '../../functions/api/http.ts';
import { errorResponse } from '../../functions/api/http-errors.ts';
import { openApiDocument } from '../../functions/api/openapi.ts';
import { coordinationEventStream } from '../../functions/api/routes/coordinations.ts';
import {
  broadcastRequestSchema,
  messageRequestSchema,
} from '../../functions/api/routes/messages.ts';
import { discoveryQuerySchema } from '../../functions/core/registry/discovery.ts';
import { API_TYPES_FILE, apiTypesSource } from '../../scripts/api-types.ts';
import type { PassedOverReason } from '../../statemachines/plan.ts';
import { coordinationRequestSchema } from '../../statemachines/request.ts';

const root = join(import.meta.dirname, '..', '..');
const DOCUMENT_FILE = join(root, 'docs', 'openapi.json');

interface Operation {
  operationId?: string;
  security: unknown[];
  responses: Record<string, unknown>;
  requestBody?: {
    content: Record<
      string,
      { schema: { $ref: string }; examples?: Record<string, { value: unknown }> }
    >;
  };
}

interface Components {
  schemas: Record<string, unknown>;
  responses: Record<string, unknown>;
}

/** Every `$ref` in a JSON value. */
function refsIn(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(refsIn);
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([key, inner]) =>
    key === '$ref' && typeof inner === 'string' ? [inner] : refsIn(inner),
  );
}

describe('OpenAPI document', () => {
  const document = openApiDocument() as {
    paths: Record<string, Record<string, Operation>>;
    components: Components;
  };
  const operations = Object.values(document.paths).flatMap((item) => Object.values(item));

  it('is the committed docs/openapi.json (run `npm run openapi` after changing the API)', () => {
    const committed = readFileSync(DOCUMENT_FILE, 'utf8');
    expect(JSON.parse(committed)).toEqual(JSON.parse(JSON.stringify(document)));
  });

  it('documents every route, signed with SigV4, with its error responses', () => {
    for (const route of ROUTES) {
      const operation = document.paths[route.path]?.[route.method.toLowerCase()];
      expect(operation, `${route.method} ${route.path}`).toBeDefined();
      expect(operation?.security).toEqual([{ sigv4: [] }]);
      expect(Object.keys(operation?.responses ?? {}).some((status) => Number(status) >= 400)).toBe(
        true,
      );
    }
  });

  it('declares the answers any request can get: 431 everywhere, 413 wherever a body is taken', () => {
    for (const operation of operations) {
      expect(operation.responses['431']).toEqual({
        $ref: '#/components/responses/HeadersTooLarge',
      });
      if (operation.requestBody !== undefined)
        expect(operation.responses['413']).toEqual({
          $ref: '#/components/responses/PayloadTooLarge',
        });
    }
  });

  it('declares 403 where ownership is checked, and Retry-After on 503 (CAPACITY_EXCEEDED)', () => {
    const forbidden = Object.entries(document.paths).flatMap(([path, item]) =>
      Object.entries(item)
        .filter(([, operation]) => '403' in operation.responses)
        .map(([method]) => `${method.toUpperCase()} ${path}`),
    );
    // Ownership checks, then the operators' routes.
    expect(forbidden.sort()).toEqual([
      'DELETE /agents/{id}',
      'DELETE /coordinations/{id}',
      'GET /agents/{id}/dead-letters',
      'GET /agents/{id}/queue',
      'POST /agents',
      'POST /agents/import',
      'POST /agents/{id}/circuit/reset',
      'POST /agents/{id}/dead-letters/redrive',
      'POST /agents/{id}/drain',
      'POST /agents/{id}/heartbeat',
      'POST /agents/{id}/resume',
      'POST /broadcasts',
      'POST /messages',
    ]);
    expect(document.paths['/coordinations']?.post?.responses['503']).toEqual({
      $ref: '#/components/responses/Unavailable',
    });
    expect(document.components.responses.Unavailable).toMatchObject({
      headers: { 'Retry-After': { schema: { type: 'integer' } } },
    });
  });

  it('lists 503 on the queue routes, whose SQS throttling answers CAPACITY_EXCEEDED', () => {
    for (const [path, method] of [
      ['/agents/{id}/queue', 'get'],
      ['/agents/{id}/dead-letters', 'get'],
      ['/agents/{id}/dead-letters/redrive', 'post'],
    ] as const)
      expect(document.paths[path]?.[method]?.responses['503'], `${method} ${path}`).toEqual({
        $ref: '#/components/responses/Unavailable',
      });
  });

  it('names in docs/coordinations.md every reason a step’s agent can be passed over for', () => {
    // Exhaustive by type: a reason added to PassedOverReason fails the typecheck until listed here.
    const reasons: Record<PassedOverReason, true> = {
      circuit_open: true,
      offline: true,
      draining: true,
      drained: true,
      no_usable_holder: true,
    };
    const docs = readFileSync(join(root, 'docs', 'coordinations.md'), 'utf8');
    const row = docs.split('\n').find((line) => line.startsWith('| `standIns[]` |')) ?? '';
    for (const reason of Object.keys(reasons)) expect(row, reason).toContain(`\`${reason}\``);
  });

  it('documents the answer of an API without an event log: its code listed with its status, and the 503 of GET …/events', async () => {
    // What the route really answers (its error, as the API maps it), so that the document cannot
    // drift from it.
    const answer = await coordinationEventStream({
      events: undefined,
    } as unknown as ApiDependencies)({
      pathParameters: { id: 'c-1' },
      headers: {},
      queryStringParameters: null,
    } as unknown as ApiEvent).catch((error: unknown) => errorResponse(error, 'r-1'));
    const { code } = (JSON.parse((answer as { body: string }).body) as { error: { code: string } })
      .error;
    expect(code).toBe('EVENTS_NOT_CONFIGURED');
    const errorSchema = document.components.schemas.Error as { description: string };
    expect(errorSchema.description).toContain(`${code} (${answer.statusCode})`);
    const watch = document.paths['/coordinations/{id}/events']?.get;
    expect(JSON.stringify(watch?.responses[String(answer.statusCode)])).toContain(code);
    // POST /coordinations with SSE answers the same 503; its shared response names the code.
    expect(JSON.stringify(document.components.responses.Unavailable)).toContain(code);
  });

  it('documents the 204 the route answers to a resume after the end', async () => {
    const events = { finishedId: async () => 7 };
    const answer = await coordinationEventStream({ events } as unknown as ApiDependencies)({
      pathParameters: { id: 'c-1' },
      headers: { 'Last-Event-ID': '7' },
      queryStringParameters: null,
    } as unknown as ApiEvent);
    expect(answer.statusCode).toBe(204);
    const watch = document.paths['/coordinations/{id}/events']?.get;
    expect(JSON.stringify(watch?.responses['204'])).toContain('`Last-Event-ID`');
  });

  it('names `after` and `Last-Event-ID` in the 400 of GET …/events', () => {
    const invalid = JSON.stringify(
      document.paths['/coordinations/{id}/events']?.get?.responses['400'],
    );
    expect(invalid).toContain('`after`');
    expect(invalid).toContain('`Last-Event-ID`');
  });

  it('documents that both coordination streams may end with an `error` event carrying an Error', () => {
    const streams = {
      'POST /coordinations': document.paths['/coordinations']?.post,
      'GET /coordinations/{id}/events': document.paths['/coordinations/{id}/events']?.get,
    };
    for (const [name, operation] of Object.entries(streams)) {
      const ok = operation?.responses['200'] as
        | { content: Record<string, { schema: unknown }> }
        | undefined;
      const media = ok?.content['text/event-stream'];
      expect(refsIn(media?.schema).sort(), name).toEqual([
        '#/components/schemas/CoordinationEvent',
        '#/components/schemas/Error',
      ]);
      expect((operation as { description?: string }).description, name).toMatch(
        /ends with an `error` event/,
      );
    }
  });

  it('lets only coordination.finished come without an id', () => {
    const events = document.components.schemas.CoordinationEvent as {
      oneOf: { properties: { type: { const: string } }; required: string[] }[];
    };
    const withoutId = events.oneOf
      .filter((event) => !event.required.includes('id'))
      .map((event) => event.properties.type.const);
    expect(withoutId).toEqual(['coordination.finished']);
    expect(events.oneOf).toHaveLength(8);
  });

  it('gives request examples that the API accepts as valid', () => {
    const schemas: Record<string, z.ZodType> = {
      CoordinationRequest: coordinationRequestSchema,
      MessageRequest: messageRequestSchema,
      BroadcastRequest: broadcastRequestSchema,
      DiscoveryQuery: discoveryQuerySchema,
    };
    const checked: string[] = [];
    for (const operation of operations) {
      const media = operation.requestBody?.content['application/json'];
      const name = media?.schema.$ref?.split('/').at(-1) ?? '';
      for (const [example, { value }] of Object.entries(media?.examples ?? {})) {
        const schema = schemas[name];
        expect(schema, `a schema to check ${name} examples with`).toBeDefined();
        expect(schema?.safeParse(value).error, `${name} example ${example}`).toBeUndefined();
        checked.push(`${name}.${example}`);
      }
    }
    expect(checked).toContain('CoordinationRequest.scatter-gather');
    expect(checked.length).toBeGreaterThanOrEqual(11);
  });

  it('gives every operation its own operationId', () => {
    const ids = operations.map((operation) => operation.operationId);
    expect(ids).toHaveLength(ROUTES.length);
    expect(ids.every((id) => typeof id === 'string' && /^[a-z][A-Za-z0-9]+$/.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('refers only to named components (schemas, error responses), each of which exists', () => {
    const refs = refsIn(document);
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of refs) {
      const [, section = '', name = ''] =
        /^#\/components\/(schemas|responses)\/([A-Za-z]+)$/.exec(ref) ?? [];
      expect(document.components[section as keyof Components], ref).toHaveProperty(name);
    }
  });

  it('is valid for swagger-parser (the OpenAPI 3.1 schema, and every $ref resolves)', async () => {
    // validate() dereferences in place: give it a copy.
    await expect(SwaggerParser.validate(structuredClone(document) as never)).resolves.toBeDefined();
  });

  it("passes Redocly's recommended lint with no errors and no warnings", async () => {
    const cli = join(root, 'node_modules', '@redocly', 'cli', 'bin', 'cli.js');
    // The CLI exits non-zero when it finds errors; the report on stdout says which, so read it.
    const stdout = await new Promise<string>((resolve) => {
      execFile(
        process.execPath,
        [cli, 'lint', DOCUMENT_FILE, '--extends=recommended', '--format=json'],
        {
          cwd: root,
          // No telemetry or update check: the run stays offline and prints only the report.
          env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
        },
        (_error, out) => resolve(out),
      );
    });
    const report = JSON.parse(stdout) as {
      totals: { errors: number; warnings: number };
      problems: { ruleId: string; message: string }[];
    };
    expect(report.problems).toEqual([]);
    expect(report.totals).toMatchObject({ errors: 0, warnings: 0 });
  });

  it(`generates the committed ${API_TYPES_FILE}, the typed client's types (run \`npm run openapi\`)`, async () => {
    const committed = readFileSync(join(root, API_TYPES_FILE), 'utf8');
    expect(committed).toBe(await apiTypesSource(document));
  });
});
