import { canonicalJson, contentHash } from '../functions/core/canonical-json.ts';
import type { StateMachineDefinition, States } from './asl.ts';
import { fanOutStates } from './patterns/fan-out.ts';
import { hierarchicalStates } from './patterns/hierarchical.ts';
import { sequenceStates } from './patterns/sequence.ts';
import type { CoordinationPlan } from './plan.ts';

export interface CompiledMachine {
  readonly definition: StateMachineDefinition;
  /** Canonical JSON of the definition: identical shapes give identical bytes. */
  readonly json: string;
  /** SHA-256 of `json`: the cache key, so an identical shape is never created twice in AWS. */
  readonly hash: string;
  /**
   * `<prefix>-<pattern>-<hash16>`: at most 46 characters, so that a standard execution named
   * `<name>--<32 hex>` fits the 80 Step Functions allows.
   */
  readonly name: string;
  readonly type: 'EXPRESS' | 'STANDARD';
}

export interface CompileOptions {
  /**
   * What machine names start with: one per deployment, so that stacks sharing an account and
   * region never share (or grant each other) machines. Letters, digits and single hyphens, at
   * most 14 characters. @default 'mobius'
   */
  readonly namePrefix?: string;
}

export const DEFAULT_NAME_PREFIX = 'mobius';
const NAME_PREFIX = /^[A-Za-z0-9]+(-[A-Za-z0-9]+)*$/;

/** Throws unless `prefix` can start a machine name (see CompileOptions.namePrefix). */
export function assertNamePrefix(prefix: string): void {
  if (prefix.length <= 14 && NAME_PREFIX.test(prefix)) return;
  throw new Error(
    `Machine name prefix "${prefix}" is not usable: use at most 14 letters, digits and single ` +
      'hyphens (e.g. "mobius-dev"), so that execution names stay within 80 characters.',
  );
}

/**
 * Compiles a resolved plan to Amazon States Language. Pure and deterministic: no AWS SDK, no
 * clock, no randomness — the same plan shape always yields the same bytes and hash. Agent
 * identities are not part of the definition; they travel in the execution input.
 */
export function compile(plan: CoordinationPlan, options: CompileOptions = {}): CompiledMachine {
  const prefix = options.namePrefix ?? DEFAULT_NAME_PREFIX;
  assertNamePrefix(prefix);
  const { startAt, states } = patternStates(plan);
  const definition: StateMachineDefinition = {
    Comment: `Mobius ${plan.pattern} coordination (${plan.mode}, ${plan.failureMode}) — compiled by statemachines/compile.ts`,
    StartAt: startAt,
    ...(plan.timeoutSeconds === undefined ? {} : { TimeoutSeconds: plan.timeoutSeconds }),
    States: states,
  };
  const json = canonicalJson(definition);
  const hash = contentHash(definition);
  return {
    definition,
    json,
    hash,
    name: `${prefix}-${plan.pattern.replace('_', '-')}-${hash.slice(0, 16)}`,
    type: plan.mode === 'express' ? 'EXPRESS' : 'STANDARD',
  };
}

function patternStates(plan: CoordinationPlan): { startAt: string; states: States } {
  if (plan.steps.length === 0) throw new Error(`a ${plan.pattern} plan needs at least one step`);
  switch (plan.pattern) {
    case 'sequential':
    case 'pipeline':
      return sequenceStates(plan);
    case 'parallel':
    case 'scatter_gather':
      return fanOutStates(plan);
    case 'hierarchical':
      return hierarchicalStates(plan);
  }
}
