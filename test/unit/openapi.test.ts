import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROUTES } from '../../functions/api/app.ts';
import { openApiDocument } from '../../functions/api/openapi.ts';

describe('OpenAPI document', () => {
  const document = openApiDocument() as {
    paths: Record<
      string,
      Record<string, { security: unknown[]; responses: Record<string, unknown> }>
    >;
  };

  it('is the committed docs/openapi.json (run `npm run openapi` after changing the API)', () => {
    const committed = readFileSync(
      join(import.meta.dirname, '..', '..', 'docs', 'openapi.json'),
      'utf8',
    );
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
});
