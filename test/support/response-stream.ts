import { Writable } from 'node:stream';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import type { StreamingHandler } from '../../functions/core/aws/lambda-streaming.ts';

/** A response stream that keeps every write apart, as Lambda hands each on. */
export class CollectingStream extends Writable {
  readonly writes: Buffer[] = [];
  contentType: string | undefined;

  constructor(options: { highWaterMark?: number; writeDelayMs?: number } = {}) {
    super({ highWaterMark: options.highWaterMark ?? 16 * 1024 });
    this.writeDelayMs = options.writeDelayMs ?? 0;
  }

  readonly writeDelayMs: number;

  setContentType(contentType: string): void {
    this.contentType = contentType;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error) => void): void {
    this.writes.push(Buffer.from(chunk));
    if (this.writeDelayMs > 0) setTimeout(done, this.writeDelayMs);
    else done();
  }

  get bytes(): Buffer {
    return Buffer.concat(this.writes);
  }
}

/** Splits what was written at the first eight NUL bytes: the prelude, and the body. */
export function integrationResponse(bytes: Buffer): {
  prelude: Record<string, unknown>;
  body: Buffer;
} {
  const delimiter = bytes.indexOf(Buffer.alloc(8));
  if (delimiter <= 0) throw new Error('no 8-NUL delimiter after the prelude');
  return {
    prelude: JSON.parse(bytes.subarray(0, delimiter).toString('utf8')),
    body: bytes.subarray(delimiter + 8),
  };
}

/**
 * A response-streaming API entry as a buffered handler: runs it on a collecting stream and reads
 * back the proxy result API Gateway would pass on (status and headers from the prelude, the body).
 */
export function bufferedEntry(
  entry: StreamingHandler,
): (event: APIGatewayProxyEvent, context: unknown) => Promise<APIGatewayProxyResult> {
  return async (event, context) => {
    const stream = new CollectingStream();
    await entry(event, stream, context as Context);
    const { prelude, body } = integrationResponse(stream.bytes);
    return { ...(prelude as { statusCode: number }), body: body.toString('utf8') };
  };
}
