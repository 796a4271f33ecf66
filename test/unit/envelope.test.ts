import { describe, expect, it } from 'vitest';
import {
  PayloadTooLargeError,
  ProtocolUnsupportedError,
  type ValidationError,
} from '../../functions/core/errors.ts';
import {
  assertFits,
  createMessage,
  createResponse,
  deserialize,
  negotiateProtocol,
  serialize,
} from '../../functions/core/messaging/envelope.ts';

describe('message envelope', () => {
  it('round-trips exactly through serialisation', () => {
    const message = createMessage({
      from: 'planner',
      to: 'worker-1',
      type: 'request',
      payload: {
        text: 'naïve café ✓',
        n: 0.1 + 0.2,
        big: 2 ** 53 - 1,
        list: [null, true, { deep: [] }],
        z: 1,
        a: 2,
      },
      timeout: 10,
    });
    const text = serialize(message);
    expect(deserialize(text)).toEqual(message);
    expect(serialize(deserialize(text))).toBe(text); // key order included
  });

  it('defaults the conversation to the message and answers in the same conversation', () => {
    const request = createMessage({ from: 'a', to: 'b', type: 'request', payload: {} });
    expect(request.conversationId).toBe(request.messageId);
    const response = createResponse(request, 'b', { ok: true });
    expect(response).toMatchObject({
      type: 'response',
      from: 'b',
      to: 'a',
      correlationId: request.messageId,
      conversationId: request.conversationId,
    });
  });

  it('rejects malformed envelopes naming the field', () => {
    const valid = createMessage({ from: 'a', to: 'b', type: 'request', payload: {} });
    const issues = (text: string) => {
      try {
        deserialize(text);
        return [];
      } catch (error) {
        return (error as ValidationError).issues.map((i) => i.path);
      }
    };
    expect(issues('{not json')).toEqual(['']);
    expect(issues(JSON.stringify({ ...valid, messageId: 'nope' }))).toEqual(['messageId']);
    expect(issues(JSON.stringify({ ...valid, type: 'broadcast' }))).toEqual(['to']);
    expect(issues(JSON.stringify({ ...valid, type: 'response' }))).toEqual(['correlationId']);
    expect(issues(JSON.stringify({ ...valid, to: '*', type: 'event' }))).toEqual(['eventType']);
  });

  it('addresses events to an audience or to one agent, broadcasts to an audience only', () => {
    const event = createMessage({
      from: 'api',
      sender: 'arn:aws:iam::123456789012:role/Indexer',
      to: 'worker-1',
      type: 'event',
      eventType: 'document.indexed',
      payload: { id: 7 },
    });
    expect(deserialize(serialize(event))).toEqual(event);
    expect(event.sender).toBe('arn:aws:iam::123456789012:role/Indexer');
    expect(
      createMessage({ from: 'api', to: '*', type: 'event', eventType: 'x.y', payload: 1 }).to,
    ).toBe('*');
    expect(() =>
      createMessage({ from: 'api', to: 'worker-1', type: 'broadcast', payload: 1 }),
    ).toThrow(/broadcasts go to an audience/);
    expect(() =>
      createMessage({ from: 'api', to: { capability: 'x' }, type: 'request', payload: 1 }),
    ).toThrow(/requests and responses go to one agent id/);
  });

  it('negotiates the highest common protocol version or refuses clearly', () => {
    const agent = {
      agentId: 'w',
      protocols: [{ name: 'mobius', versions: ['1.0', '1.2', '2.0'] }],
    };
    expect(negotiateProtocol('mobius', ['1.0', '1.2', '1.10'], agent)).toBe('1.2');
    expect(negotiateProtocol('mobius', ['2.0', '1.0'], agent)).toBe('2.0');
    expect(() => negotiateProtocol('mobius', ['3.0'], agent)).toThrow(ProtocolUnsupportedError);
    expect(() => negotiateProtocol('a2a', ['1.0'], agent)).toThrow(/speaks a2a \(not at all\)/);
  });

  it('checks size against the channel limit before sending', () => {
    const message = createMessage({
      from: 'a',
      to: 'b',
      type: 'request',
      payload: { blob: 'x'.repeat(1000) },
    });
    expect(assertFits(message, 262_144, 'SQS')).toBeGreaterThan(1000);
    expect(() => assertFits(message, 500, 'SQS')).toThrow(PayloadTooLargeError);
  });
});
