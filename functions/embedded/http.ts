import type { IncomingMessage } from 'node:http';

/**
 * Reads a request body, refusing more than `limitBytes`: it rejects as soon as the limit is
 * passed, so the caller can answer 413 at once, and discards the rest rather than destroying the
 * socket, so the client still receives that answer.
 */
export function readBody(request: IncomingMessage, limitBytes = 6 * 1024 * 1024): Promise<string> {
  return new Promise((resolve, reject) => {
    let chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limitBytes) {
        chunks.push(chunk);
        return;
      }
      if (!refused) {
        refused = true;
        chunks = [];
        reject(
          Object.assign(new Error(`request body larger than ${limitBytes} bytes`), {
            tooLarge: true,
          }),
        );
      }
    });
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}
