import { describe, expect, it } from 'vitest';
import { canonicalJson, contentHash } from '../../functions/core/canonical-json.ts';
import { ValidationError } from '../../functions/core/errors.ts';
import { agentCardSchema } from '../../functions/core/model/agent-card.ts';
import { parseWith } from '../../functions/core/validation.ts';
import { capability, card } from '../support/cards.ts';

const issuesOf = (input: unknown) => {
  try {
    parseWith(agentCardSchema, input, 'agent card');
  } catch (error) {
    if (error instanceof ValidationError) return error.issues;
    throw error;
  }
  return [];
};

describe('agent card schema', () => {
  it('fills documented defaults', () => {
    const parsed = agentCardSchema.parse(card('a1'));
    expect(parsed.protocols).toEqual([{ name: 'mobius', versions: ['1.0'] }]);
    expect(parsed.capabilities[0]).toEqual({
      name: 'summarize',
      version: '1.2.0',
      priority: 0,
      metadata: {},
    });
  });

  it('names the field and the fix for each mistake', () => {
    expect(issuesOf(card('a1', { capabilities: [capability('x', '1.2')] }))).toEqual([
      {
        path: 'capabilities.0.version',
        message: 'not a semantic version; use MAJOR.MINOR.PATCH such as "1.2.0"',
      },
    ]);
    expect(issuesOf(card('a1', { capabilities: [] }))[0]).toMatchObject({ path: 'capabilities' });
    expect(
      issuesOf(card('a1', { capabilities: [capability('x'), capability('x')] }))[0],
    ).toMatchObject({
      path: 'capabilities.1.name',
      message: expect.stringContaining('listed twice'),
    });
    expect(issuesOf(card('a1', { endpoint: { queueUrl: 'not a url' } }))[0]).toMatchObject({
      path: 'endpoint.queueUrl',
    });
    expect(
      issuesOf(
        card('a1', {
          endpoint: {
            queueUrl: 'http://127.0.0.1:4566/000000000000/q.fifo',
            queueArn: 'arn:aws:sqs:us-east-1:000000000000:q',
          },
        }),
      )[0],
    ).toMatchObject({ path: 'endpoint.queueArn' });
    expect(
      issuesOf(
        card('a1', { healthCheck: { heartbeatIntervalSeconds: 60, heartbeatTimeoutSeconds: 30 } }),
      )[0],
    ).toMatchObject({ path: 'healthCheck.heartbeatTimeoutSeconds' });
    const big = issuesOf(
      card('a1', {
        capabilities: [capability('x', '1.0.0', { metadata: { b: 'x'.repeat(4100) } })],
      }),
    );
    expect(big[0]?.path).toBe('capabilities.0.metadata');
    expect(big[0]?.message).toMatch(/limit is 4096 bytes/);
  });

  it('hashes equal cards equally regardless of key order', () => {
    const a = agentCardSchema.parse(card('a1'));
    const b = agentCardSchema.parse(Object.fromEntries(Object.entries(card('a1')).reverse()));
    expect(canonicalJson(a)).toBe(canonicalJson(b));
    expect(contentHash(a)).toBe(contentHash(b));
    expect(contentHash(a)).not.toBe(contentHash({ ...a, description: 'other' }));
  });
});
