import { describe, expect, it } from 'vitest';
import { ForbiddenError } from '../../functions/core/errors.ts';
import {
  assertMayChange,
  mayChange,
  normalisePrincipal,
} from '../../functions/core/registry/ownership.ts';

describe('principals and ownership', () => {
  it('names a principal one way however it signed', () => {
    const role = 'arn:aws:iam::123456789012:role/AgentRole';
    expect(normalisePrincipal('arn:aws:sts::123456789012:assumed-role/AgentRole/i-0abc')).toBe(
      role,
    );
    expect(normalisePrincipal('arn:aws:sts::123456789012:assumed-role/AgentRole/other')).toBe(role);
    expect(normalisePrincipal('arn:aws:iam::123456789012:role/service/team/AgentRole')).toBe(role);
    expect(normalisePrincipal('arn:aws:iam::123456789012:user/people/alice')).toBe(
      'arn:aws:iam::123456789012:user/alice',
    );
    expect(normalisePrincipal('arn:aws-cn:sts::123456789012:assumed-role/R/s')).toBe(
      'arn:aws-cn:iam::123456789012:role/R',
    );
    expect(normalisePrincipal('arn:aws:iam::123456789012:root')).toBe(
      'arn:aws:iam::123456789012:root',
    );
    expect(normalisePrincipal('arn:aws:sts::123456789012:federated-user/bob')).toBe(
      'arn:aws:sts::123456789012:federated-user/bob',
    );
  });

  it('lets owners and operators change a card, nobody else; unowned cards are operators’ only', () => {
    const alice = { principal: 'arn:aws:iam::1:role/A', operator: false };
    const ops = { principal: 'arn:aws:iam::1:role/Ops', operator: true };
    expect(mayChange(alice.principal, alice)).toBe(true);
    expect(mayChange('arn:aws:iam::1:role/B', alice)).toBe(false);
    expect(mayChange(undefined, alice)).toBe(false);
    expect(mayChange(undefined, ops)).toBe(true);
    expect(() => assertMayChange('w', 'arn:aws:iam::1:role/B', alice, 'deregister')).toThrow(
      ForbiddenError,
    );
    expect(() =>
      assertMayChange('w', 'arn:aws:cloudformation:us-east-1:1:stack/S/x', alice, 'update'),
    ).toThrow(/owned by the stack that deployed it/);
  });
});
