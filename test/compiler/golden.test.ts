import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { standardCoordinationId } from '../../functions/coordination/step-functions-engine.ts';
import { compile } from '../../statemachines/compile.ts';
import { aslErrors } from '../../statemachines/validate.ts';
import { FAILURE_MODES, PATTERNS, planFor, targetOf } from './fixtures.ts';

const GOLDEN = join(import.meta.dirname, 'golden');
const UPDATE = process.env.UPDATE_GOLDEN === '1';

/**
 * Golden tests on the compiler's own output: one file per pattern × failure mode (express), plus
 * each pattern in standard mode. A change to the generated ASL shows up as a reviewable diff;
 * regenerate deliberately with `UPDATE_GOLDEN=1 npx vitest run test/compiler/golden.test.ts`.
 */
const cases = [
  ...PATTERNS.flatMap((pattern) =>
    FAILURE_MODES.map((failureMode) => ({ pattern, failureMode, mode: 'express' as const })),
  ),
  ...PATTERNS.map((pattern) => ({
    pattern,
    failureMode: 'fail_fast' as const,
    mode: 'standard' as const,
  })),
];

describe('compiled ASL', () => {
  it.each(cases)(
    '$pattern / $failureMode / $mode matches its golden file and passes asl-validator',
    ({ pattern, failureMode, mode }) => {
      const machine = compile(planFor(pattern, { failureMode, mode }));
      const file = join(GOLDEN, `${pattern}.${failureMode}.${mode}.asl.json`);
      const text = `${JSON.stringify(machine.definition, null, 2)}\n`;
      if (UPDATE || !existsSync(file)) {
        if (!UPDATE)
          throw new Error(`missing golden file ${file}; run with UPDATE_GOLDEN=1 to create it`);
        writeFileSync(file, text);
      }
      expect(text).toBe(readFileSync(file, 'utf8'));

      expect(aslErrors(machine.definition)).toEqual([]);
    },
  );

  it('is deterministic and independent of which agents fill the shape', () => {
    const a = compile(planFor('pipeline'));
    const b = compile(planFor('pipeline'));
    const otherAgents = compile(
      planFor('pipeline', { steps: [['x1'], ['x2', 'x2-backup'], ['x3']] }),
    );
    expect(b.json).toBe(a.json);
    expect(otherAgents.hash).toBe(a.hash);
    expect(a.name).toMatch(/^mobius-pipeline-[0-9a-f]{16}$/);
  });

  it('names machines with the deployment prefix, leaving room for standard execution ids', () => {
    const plan = planFor('scatter_gather', { mode: 'standard' });
    const machine = compile(plan, { namePrefix: 'mobius-prod-eu' });
    expect(machine.name).toMatch(/^mobius-prod-eu-scatter-gather-[0-9a-f]{16}$/);
    expect(machine.hash).toBe(compile(plan).hash);
    expect(standardCoordinationId(machine, randomUUID()).length).toBeLessThanOrEqual(80);
    for (const bad of ['mobius-prod-eu-1', 'has--double', 'under_score', '-lead', ''])
      expect(() => compile(plan, { namePrefix: bad }), bad).toThrow(/at most 14 letters/);
  });

  it('gives every different shape a different hash', () => {
    const shapes = [
      planFor('pipeline'),
      planFor('pipeline', { failureMode: 'retry' }),
      planFor('pipeline', { mode: 'standard' }),
      planFor('pipeline', { steps: [['a1'], ['a2'], ['a3']] }),
      planFor('pipeline', { stepTimeoutSeconds: 5 }),
      planFor('sequential'),
      planFor('parallel'),
    ];
    expect(new Set(shapes.map((plan) => compile(plan).hash)).size).toBe(shapes.length);
  });

  it('compiles one definition for any number of fan-out agents', () => {
    const few = compile(planFor('parallel', { steps: [['a'], ['b']] }));
    const many = compile(
      planFor('parallel', { steps: Array.from({ length: 100 }, (_, i) => [`a${i}`]) }),
    );
    expect(many.hash).toBe(few.hash);
  });

  it('routes express tasks through lambda:invoke and standard ones through SQS task tokens', () => {
    const express = compile(planFor('sequential')).json;
    const standard = compile(planFor('sequential', { mode: 'standard' })).json;
    expect(express).toContain('arn:aws:states:::lambda:invoke');
    expect(express).not.toContain(targetOf('a1', 'express').target); // agents travel in the input
    expect(standard).toContain('arn:aws:states:::sqs:sendMessage.waitForTaskToken');
    expect(standard).toContain('"HeartbeatSeconds":29');
  });
});
