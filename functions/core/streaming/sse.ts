/**
 * Server-sent events (the WHATWG `text/event-stream` format): writing them for the API, reading
 * them for the CLI and the typed client. Data is always one line of JSON.
 */
export const SSE_CONTENT_TYPE = 'text/event-stream';

export interface SseMessage {
  readonly event: string;
  readonly data: unknown;
  readonly id?: string | number;
}

/** One event, ready to write. JSON never contains a raw newline, so `data:` is one line. */
export function formatSse(message: SseMessage): string {
  const id = message.id === undefined ? '' : `id: ${message.id}\n`;
  return `${id}event: ${message.event}\ndata: ${JSON.stringify(message.data)}\n\n`;
}

/**
 * A comment line: proxies and load balancers that close idle connections see traffic, and
 * clients ignore it.
 */
export const SSE_KEEPALIVE = ': keep-alive\n\n';

/** Headers of every SSE answer: no caching or buffering on the way (nginx, API Gateway). */
export const SSE_HEADERS = {
  'content-type': `${SSE_CONTENT_TYPE}; charset=utf-8`,
  'cache-control': 'no-cache',
  'x-accel-buffering': 'no',
} as const;

/** Whether the caller asked for SSE (`Accept: text/event-stream`), headers matched case-insensitively. */
export function wantsEventStream(
  headers: Readonly<Record<string, string | undefined>> | null,
): boolean {
  for (const [name, value] of Object.entries(headers ?? {}))
    if (name.toLowerCase() === 'accept' && value?.toLowerCase().includes(SSE_CONTENT_TYPE))
      return true;
  return false;
}

/** A parsed event: `data` is the JSON the server wrote. */
export interface ReceivedSse {
  readonly event: string;
  readonly data: unknown;
  readonly id: string | undefined;
}

/**
 * Reads SSE from a byte stream (a fetch body) as events, in order, as they arrive. Comments and
 * unknown fields are skipped, as the format says; `data` that is not JSON is passed as text; `id`
 * carries over to later events until a new one is given (it is the stream's last event id).
 */
export async function* readSse(body: AsyncIterable<Uint8Array>): AsyncGenerator<ReceivedSse> {
  const decoder = new TextDecoder();
  let buffer = '';
  let event = 'message';
  let data: string[] = [];
  let id: string | undefined;
  const dispatch = (): ReceivedSse | undefined => {
    if (data.length === 0) return undefined;
    const text = data.join('\n');
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON: the text itself
    }
    const received = { event, data: parsed, id };
    event = 'message';
    data = [];
    return received;
  };
  for await (const bytes of body) {
    buffer += decoder.decode(bytes, { stream: true });
    let newline = buffer.search(/\r\n|\n|\r/);
    // A CR that ends the piece may be the first half of a CRLF: wait for the next piece.
    while (newline >= 0 && !(newline === buffer.length - 1 && buffer.endsWith('\r'))) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + (buffer.startsWith('\r\n', newline) ? 2 : 1));
      if (line === '') {
        const received = dispatch();
        if (received !== undefined) yield received;
      } else if (!line.startsWith(':')) {
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') event = value;
        else if (field === 'data') data.push(value);
        else if (field === 'id') id = value;
      }
      newline = buffer.search(/\r\n|\n|\r/);
    }
  }
  // An event the stream ended in the middle of (no blank line after it) is discarded, as the
  // format says: its writer was cut off, and half an event must not pass for a whole one.
}
