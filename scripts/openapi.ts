/**
 * `npm run openapi`: writes docs/openapi.json from the API's zod schemas, and the typed client's
 * types from that document.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openApiDocument } from '../functions/api/openapi.ts';
import { API_TYPES_FILE, apiTypesSource } from './api-types.ts';

const root = join(import.meta.dirname, '..');
const document = openApiDocument();
const files = {
  'docs/openapi.json': `${JSON.stringify(document, null, 2)}\n`,
  [API_TYPES_FILE]: await apiTypesSource(document),
};
for (const [file, text] of Object.entries(files)) {
  writeFileSync(join(root, file), text);
  console.log(`wrote ${file}`);
}
