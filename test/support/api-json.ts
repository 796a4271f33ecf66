/** An API's JSON answer, its body read by path in assertions. */
// biome-ignore lint/suspicious/noExplicitAny: JSON answers, read by path in the assertions
export type Answer = { status: number; body: Record<string, any> };

/** One JSON request to the API at `base` (a running embedded runtime's apiUrl). */
export async function requestJson(
  base: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<Answer> {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as Answer['body'] };
}
