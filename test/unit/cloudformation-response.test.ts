import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { describe, expect, it, vi } from 'vitest';
import {
  FAILED_CREATE_ID,
  respondToCloudFormation,
} from '../../functions/deploy/cloudformation-response.ts';

/**
 * A Lambda-backed custom resource answers CloudFormation itself, on the whole ResponseURL it was
 * given (port included: LocalStack's is not 443). fetch is a spy: nothing leaves the process.
 */
const event = (
  type: 'Create' | 'Update' | 'Delete',
  physicalId?: string,
): CloudFormationCustomResourceEvent =>
  ({
    RequestType: type,
    ServiceToken: 'arn:aws:lambda:us-east-1:123456789012:function:register',
    ResponseURL: 'http://127.0.0.1:4566/_mobius/cloudformation/custom-resource-responses/r1',
    StackId: 'arn:aws:cloudformation:us-east-1:123456789012:stack/s/1',
    RequestId: 'req-1',
    LogicalResourceId: 'Card',
    ResourceType: 'Custom::MobiusAgentCard',
    ResourceProperties: { ServiceToken: 'arn' },
    ...(physicalId ? { PhysicalResourceId: physicalId } : {}),
    ...(type === 'Update' ? { OldResourceProperties: {} } : {}),
  }) as CloudFormationCustomResourceEvent;

function recorder(status = 200) {
  const calls: { url: string; init: RequestInit }[] = [];
  const send = vi.fn(async (url: string | URL | Request, init?: RequestInit) => {
    calls.push({ url: String(url), init: init ?? {} });
    return new Response('', { status });
  }) as unknown as typeof fetch;
  return { calls, send };
}

describe('respondToCloudFormation', () => {
  it('PUTs SUCCESS with the physical id and data to the whole ResponseURL', async () => {
    const { calls, send } = recorder();
    const work = vi.fn(async () => ({
      PhysicalResourceId: 'mobius-agent:a',
      Data: { outcome: 'created' },
    }));
    await respondToCloudFormation(event('Create'), work, send);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.url).toBe(event('Create').ResponseURL);
    expect(calls[0]?.init.method).toBe('PUT');
    expect(JSON.parse(String(calls[0]?.init.body))).toEqual({
      Status: 'SUCCESS',
      PhysicalResourceId: 'mobius-agent:a',
      Data: { outcome: 'created' },
      StackId: event('Create').StackId,
      RequestId: 'req-1',
      LogicalResourceId: 'Card',
    });
  });

  it('reports a failure as FAILED with its message (no stack), marking a failed create', async () => {
    const { calls, send } = recorder();
    const response = await respondToCloudFormation(
      event('Create'),
      async () => {
        throw new TypeError('card is not valid');
      },
      send,
    );
    expect(response).toMatchObject({
      Status: 'FAILED',
      Reason: 'TypeError: card is not valid',
      PhysicalResourceId: FAILED_CREATE_ID,
    });
    expect(String(calls[0]?.init.body)).not.toContain(' at ');
  });

  it('cuts a long reason, so the answer stays under the 4 KiB CloudFormation accepts', async () => {
    const { calls, send } = recorder();
    await respondToCloudFormation(
      event('Create'),
      async () => {
        throw new Error('x'.repeat(10_000));
      },
      send,
    );
    expect(String(calls[0]?.init.body).length).toBeLessThan(4096);
  });

  it('keeps the physical id of a failed update, so CloudFormation rolls back the same resource', async () => {
    const { send } = recorder();
    const response = await respondToCloudFormation(
      event('Update', 'mobius-agent:a'),
      async () => {
        throw new Error('table is gone');
      },
      send,
    );
    expect(response).toMatchObject({ Status: 'FAILED', PhysicalResourceId: 'mobius-agent:a' });
  });

  it('deletes a resource whose create failed without doing any work', async () => {
    const { send } = recorder();
    const work = vi.fn();
    const response = await respondToCloudFormation(event('Delete', FAILED_CREATE_ID), work, send);
    expect(work).not.toHaveBeenCalled();
    expect(response).toMatchObject({ Status: 'SUCCESS', PhysicalResourceId: FAILED_CREATE_ID });
  });

  it('fails loudly when CloudFormation refuses the answer', async () => {
    const { send } = recorder(403);
    await expect(
      respondToCloudFormation(event('Create'), async () => ({ PhysicalResourceId: 'x' }), send),
    ).rejects.toThrow(/answered 403/);
  });
});
