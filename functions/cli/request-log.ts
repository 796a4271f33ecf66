import type { ApiRequestRecord } from '../embedded/api-server.ts';
import { dim, red, yellow } from './format.ts';

/**
 * One request as `mobius dev` and `mobius console` print it:
 * `GET /agents 200 3.2 ms 6f1c…` — method, path, status, time, request id; 4xx in yellow, 5xx in
 * red, a response its reader left before the end marked so.
 */
export function requestLine(record: ApiRequestRecord): string {
  const path = record.path.length > 200 ? `${record.path.slice(0, 200)}…` : record.path;
  const status =
    record.status >= 500
      ? red(String(record.status))
      : record.status >= 400
        ? yellow(String(record.status))
        : String(record.status);
  const left = record.completed ? '' : ' (closed by the client)';
  return `${record.method} ${path} ${status} ${record.ms.toFixed(1)} ms ${dim(record.requestId)}${left}`;
}
