import type { AgentTarget, CoordinationPlan, PlannedStep } from '../../statemachines/plan.ts';
import type { FailureMode, Pattern } from '../../statemachines/request.ts';

export const PATTERNS: readonly Pattern[] = [
  'sequential',
  'pipeline',
  'parallel',
  'scatter_gather',
  'hierarchical',
];
export const FAILURE_MODES: readonly FailureMode[] = ['fail_fast', 'best_effort', 'retry'];

/** Where agent `id` is reached: a Lambda ARN (express) or a queue URL (standard). */
export function targetOf(agentId: string, mode: 'express' | 'standard'): AgentTarget {
  return {
    agentId,
    target:
      mode === 'express'
        ? `arn:aws:lambda:us-east-1:123456789012:function:${agentId}`
        : `http://127.0.0.1:4566/000000000000/mobius-${agentId}`,
  };
}

export interface PlanOptions {
  readonly mode?: 'express' | 'standard';
  readonly failureMode?: FailureMode;
  /** Agent ids per step; a step's extra ids are its fallbacks. */
  readonly steps?: readonly (readonly string[])[];
  readonly timeoutSeconds?: number;
  readonly stepTimeoutSeconds?: number;
  readonly quorum?: number;
  readonly strategy?: 'collect' | 'merge' | 'first_successful' | 'quorum';
  readonly workers?: readonly { id: string; capabilities: string[] }[];
  readonly maxRounds?: number;
}

/** A plan with three steps (the second with a fallback) unless told otherwise. */
export function planFor(pattern: Pattern, options: PlanOptions = {}): CoordinationPlan {
  const mode = options.mode ?? 'express';
  const failureMode = options.failureMode ?? 'fail_fast';
  const stepAgents =
    options.steps ??
    (pattern === 'hierarchical' ? [['planner']] : [['a1'], ['a2', 'a2-backup'], ['a3']]);
  const steps: PlannedStep[] = stepAgents.map((ids, i) => ({
    id: pattern === 'hierarchical' ? 'supervisor' : `step${i + 1}`,
    candidates: ids.map((id) => targetOf(id, mode)),
    timeoutSeconds: options.stepTimeoutSeconds ?? 30,
  }));
  return {
    pattern,
    mode,
    failureMode,
    ...(failureMode === 'retry'
      ? { retry: { attempts: 2, intervalSeconds: 1, backoffRate: 2, jitter: 'full' as const } }
      : {}),
    ...(options.timeoutSeconds === undefined
      ? { timeoutSeconds: 120 }
      : { timeoutSeconds: options.timeoutSeconds }),
    steps,
    ...(pattern === 'scatter_gather'
      ? {
          gather:
            options.quorum !== undefined
              ? { strategy: 'quorum' as const, quorum: options.quorum }
              : { strategy: options.strategy ?? 'collect' },
        }
      : {}),
    ...(pattern === 'hierarchical'
      ? {
          workers: (
            options.workers ?? [
              { id: 'kw', capabilities: ['keywords'] },
              { id: 'sent', capabilities: ['sentiment'] },
            ]
          ).map((w) => ({ ...targetOf(w.id, mode), capabilities: w.capabilities })),
          workerTimeoutSeconds: options.stepTimeoutSeconds ?? 30,
          maxRounds: options.maxRounds ?? 2,
        }
      : {}),
  };
}
