import type { IncomingMessage } from 'node:http';

/** Reads a request body, refusing more than `limitBytes` (the caller answers 413). */
export function readBody(request: IncomingMessage, limitBytes = 6 * 1024 * 1024): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limitBytes) {
        reject(
          Object.assign(new Error(`request body larger than ${limitBytes} bytes`), {
            tooLarge: true,
          }),
        );
        request.destroy();
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}
