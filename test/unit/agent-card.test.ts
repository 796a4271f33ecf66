import { describe, expect, it } from 'vitest';
import { canonicalJson, contentHash } from '../../functions/core/canonical-json.ts';
import { ValidationError } from '../../functions/core/errors.ts';
import {
  type AgentEndpoint,
  agentCardSchema,
  agentCardSchemaUnder,
  type EndpointPolicy,
  endpointPolicyIssues,
} from '../../functions/core/model/agent-card.ts';
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

  it('takes http(s) queue URLs only, and keeps the coordinator’s own names for it', () => {
    for (const queueUrl of ['file:///etc/passwd', 'gopher://127.0.0.1:70/_x', 'ftp://h/q']) {
      expect(issuesOf(card('a1', { endpoint: { queueUrl } }))).toEqual([
        {
          path: 'endpoint.queueUrl',
          message: 'not an http(s) URL; give the queue URL SQS returned',
        },
      ]);
    }
    for (const agentId of ['api', 'mobius', 'Mobius'])
      expect(issuesOf(card(agentId))[0]).toMatchObject({ path: 'agentId' });
  });

  describe('endpoint policy', () => {
    const aws: EndpointPolicy = { region: 'eu-west-1', accounts: ['123456789012'] };
    const local: EndpointPolicy = {
      region: 'us-east-1',
      accounts: ['000000000000'],
      sqsEndpoint: 'http://127.0.0.1:4566',
    };
    const problems = (endpoint: AgentEndpoint, policy: EndpointPolicy) =>
      endpointPolicyIssues(endpoint, policy).map((i) => i.path);

    it('admits SQS and Lambda of its region and accounts, in every URL form SQS returns', () => {
      for (const queueUrl of [
        'https://sqs.eu-west-1.amazonaws.com/123456789012/q',
        'https://eu-west-1.queue.amazonaws.com/123456789012/q.fifo',
      ])
        expect(problems({ queueUrl }, aws)).toEqual([]);
      expect(
        problems(
          {
            queueUrl: 'https://sqs.eu-west-1.amazonaws.com/123456789012/q',
            queueArn: 'arn:aws:sqs:eu-west-1:123456789012:q',
            lambdaArn: 'arn:aws:lambda:eu-west-1:123456789012:function:f:live',
          },
          aws,
        ),
      ).toEqual([]);
    });

    it('refuses other hosts, ports, paths, regions and accounts, naming the field', () => {
      for (const queueUrl of [
        'http://sqs.eu-west-1.amazonaws.com/123456789012/q',
        'https://sqs.eu-west-1.amazonaws.com:8443/123456789012/q',
        'https://sqs.eu-west-1.amazonaws.com.attacker.example/123456789012/q',
        'https://sqs.eu-west-1.amazonaws.com/123456789012/q/../../admin',
        'https://sqs.eu-west-1.amazonaws.com/123456789012/q?Action=DeleteQueue',
        'https://sqs.us-east-1.amazonaws.com/123456789012/q',
        'https://sqs.eu-west-1.amazonaws.com/999999999999/q',
        'http://169.254.169.254/latest/meta-data',
        'http://127.0.0.1:4566/000000000000/q',
      ])
        expect(problems({ queueUrl }, aws), queueUrl).toEqual(['endpoint.queueUrl']);
      expect(
        problems({ lambdaArn: 'arn:aws:lambda:eu-west-1:999999999999:function:f' }, aws),
      ).toEqual(['endpoint.lambdaArn']);
      expect(
        problems({ lambdaArn: 'arn:aws:lambda:us-east-1:123456789012:function:f' }, aws),
      ).toEqual(['endpoint.lambdaArn']);
      expect(
        problems(
          {
            queueUrl: 'https://sqs.eu-west-1.amazonaws.com/123456789012/q',
            queueArn: 'arn:aws:sqs:eu-west-1:999999999999:q',
          },
          aws,
        ),
      ).toEqual(['endpoint.queueArn']);
    });

    it('in local mode admits the configured endpoint (LocalStack, emulators) and nothing else', () => {
      expect(
        problems(
          {
            queueUrl: 'http://127.0.0.1:4566/000000000000/mobius-abc-worker',
            queueArn: 'arn:aws:sqs:us-east-1:000000000000:mobius-abc-worker',
          },
          local,
        ),
      ).toEqual([]);
      for (const queueUrl of [
        'http://127.0.0.1:4567/000000000000/q',
        'http://localhost:4566/000000000000/q',
        'https://sqs.us-east-1.amazonaws.com/000000000000/q',
      ])
        expect(problems({ queueUrl }, local), queueUrl).toEqual(['endpoint.queueUrl']);
    });

    it('runs as part of the card schema, after the schema’s own checks', () => {
      const schema = agentCardSchemaUnder(aws);
      const result = schema.safeParse(card('a1', { endpoint: { queueUrl: 'not a url' } }));
      // The bad URL is reported once, by the schema; the policy does not trip over it.
      expect(result.error?.issues.map((i) => i.path.join('.'))).toEqual(['endpoint.queueUrl']);
      expect(schema.safeParse(card('a1')).error?.issues[0]?.message).toMatch(
        /function is in region us-east-1; agents are reached in eu-west-1 only/,
      );
    });
  });

  it('hashes equal cards equally regardless of key order', () => {
    const a = agentCardSchema.parse(card('a1'));
    const b = agentCardSchema.parse(Object.fromEntries(Object.entries(card('a1')).reverse()));
    expect(canonicalJson(a)).toBe(canonicalJson(b));
    expect(contentHash(a)).toBe(contentHash(b));
    expect(contentHash(a)).not.toBe(contentHash({ ...a, description: 'other' }));
  });
});
