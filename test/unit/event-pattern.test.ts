import { describe, expect, it } from 'vitest';
import { createMessage } from '../../functions/core/messaging/envelope.ts';
import { matchesPattern, patternProblem } from '../../functions/core/messaging/event-pattern.ts';
import {
  broadcastPattern,
  busEntryOf,
  declaredRuleKind,
  declaredSubscriptionsSchema,
  MAX_DECLARED_SUBSCRIPTIONS,
  type RuleKind,
  ruleName,
  subscriptionPattern,
} from '../../functions/core/messaging/routing-rules.ts';

const event = (detail: unknown, detailType = 'mobius.broadcast') => ({
  source: 'mobius',
  'detail-type': detailType,
  detail,
});

describe('event pattern matching', () => {
  it.each<[string, Record<string, unknown>, unknown, boolean]>([
    ['exact value', { a: ['x'] }, { a: 'x' }, true],
    ['exact miss', { a: ['x'] }, { a: 'y' }, false],
    ['array field: any element', { a: ['x'] }, { a: ['w', 'x'] }, true],
    ['missing field', { a: ['x'] }, {}, false],
    ['prefix', { a: [{ prefix: 'doc.' }] }, { a: 'doc.1' }, true],
    ['suffix', { a: [{ suffix: '.png' }] }, { a: 'x.jpg' }, false],
    ['ignore case', { a: [{ 'equals-ignore-case': 'HeLLo' }] }, { a: 'hello' }, true],
    ['anything-but list', { a: [{ 'anything-but': ['x', 'y'] }] }, { a: 'z' }, true],
    ['anything-but on missing', { a: [{ 'anything-but': 'x' }] }, {}, false],
    [
      'anything-but prefix',
      { a: [{ 'anything-but': { prefix: 'int' } }] },
      { a: 'internal' },
      false,
    ],
    ['exists false', { a: [{ exists: false }] }, {}, true],
    ['exists true', { a: [{ exists: true }] }, { a: null }, true],
    ['numeric range', { n: [{ numeric: ['>', 0, '<=', 5] }] }, { n: 5 }, true],
    ['numeric on string', { n: [{ numeric: ['>', 0] }] }, { n: '5' }, false],
    ['null value', { a: [null] }, { a: null }, true],
    ['nested', { a: { b: [1] } }, { a: { b: 1 } }, true],
    ['nested against scalar', { a: { b: [1] } }, { a: 1 }, false],
    ['$or', { $or: [{ a: [1] }, { b: [2] }] }, { b: 2 }, true],
  ])('%s', (_, pattern, input, expected) => {
    expect(matchesPattern(pattern, input)).toBe(expected);
  });

  it('validates patterns with a clear message', () => {
    expect(patternProblem({ a: ['x'], b: { c: [1] } })).toBeNull();
    expect(patternProblem({ a: 'x' })).toMatch(/a must be an array/);
    expect(patternProblem({ a: [{ wildcard: 'x*' }] })).toMatch(/unsupported matcher/);
    expect(patternProblem({ $or: [{ a: [1] }] })).toMatch(/at least two/);
  });
});

describe('routing rules', () => {
  it('delivers broadcasts to everyone and capability broadcasts to holders only', () => {
    const pattern = broadcastPattern(['summarize', 'translate']);
    const all = JSON.parse(
      busEntryOf(createMessage({ from: 'a', to: '*', type: 'broadcast', payload: {} }), 'bus')
        .Detail,
    );
    const sum = JSON.parse(
      busEntryOf(
        createMessage({
          from: 'a',
          to: { capability: 'summarize' },
          type: 'broadcast',
          payload: {},
        }),
        'bus',
      ).Detail,
    );
    const other = JSON.parse(
      busEntryOf(
        createMessage({ from: 'a', to: { capability: 'ocr' }, type: 'broadcast', payload: {} }),
        'bus',
      ).Detail,
    );
    expect(matchesPattern(pattern, event(all))).toBe(true);
    expect(matchesPattern(pattern, event(sum))).toBe(true);
    expect(matchesPattern(pattern, event(other))).toBe(false);
    expect(matchesPattern(pattern, event(all, 'document.indexed'))).toBe(false);
  });

  it('puts subscription filters on the event message', () => {
    const pattern = subscriptionPattern(['doc.indexed'], ['index'], { payload: { lang: ['en'] } });
    const entry = (lang: string, to: '*' | { capability: string } = '*') =>
      event(
        JSON.parse(
          busEntryOf(
            createMessage({
              from: 'a',
              to,
              type: 'event',
              eventType: 'doc.indexed',
              payload: { lang },
            }),
            'bus',
          ).Detail,
        ),
        'doc.indexed',
      );
    expect(matchesPattern(pattern, entry('en'))).toBe(true);
    expect(matchesPattern(pattern, entry('de'))).toBe(false);
    expect(matchesPattern(pattern, entry('en', { capability: 'index' }))).toBe(true);
    expect(matchesPattern(pattern, entry('en', { capability: 'other' }))).toBe(false);
  });

  it('names rules within EventBridge’s 64 characters, distinctly for long ids', () => {
    const long = 'a'.repeat(64);
    const almost = `${'a'.repeat(63)}b`;
    expect(ruleName(long, 'broadcast').length).toBeLessThanOrEqual(64);
    expect(
      ruleName(long, declaredRuleKind(MAX_DECLARED_SUBSCRIPTIONS - 1)).length,
    ).toBeLessThanOrEqual(64);
    expect(ruleName(long, 'events')).not.toBe(ruleName(almost, 'events'));
    // Declared subscriptions never share a name with the run-time one (or each other).
    const kinds = [
      'broadcast',
      'events',
      ...Array.from({ length: 10 }, (_, i) => declaredRuleKind(i)),
    ];
    expect(new Set(kinds.map((kind) => ruleName('a', kind as RuleKind))).size).toBe(kinds.length);
  });

  it('refuses more declared subscriptions than an agent may have, and bad event types', () => {
    const many = Array.from({ length: MAX_DECLARED_SUBSCRIPTIONS + 1 }, () => ({
      eventTypes: ['x.y'],
    }));
    expect(declaredSubscriptionsSchema.safeParse(many).success).toBe(false);
    expect(declaredSubscriptionsSchema.safeParse([{ eventTypes: [] }]).success).toBe(false);
    expect(declaredSubscriptionsSchema.safeParse([{ eventTypes: ['x.y'] }]).success).toBe(true);
  });
});
