import { describe, expect, it } from 'vitest';
import { EmbeddedEngine } from '../../functions/embedded/embedded-engine.ts';
import type { AgentInvoker } from '../../functions/embedded/local-executor.ts';
import { compile } from '../../statemachines/compile.ts';
import { executionInput } from '../../statemachines/plan.ts';
import { AgentFleet } from '../compiler/agents.ts';
import { planFor } from '../compiler/fixtures.ts';

describe('embedded engine', () => {
  it('lets the event loop turn before each run, so back-to-back runs do not starve timers and sockets', async () => {
    const fleet = new AgentFleet();
    const plan = planFor('parallel');
    const machine = compile(plan);
    // Whether the event loop had turned (an immediate queued before the run had fired) by the
    // time the run's first agent was called: in-process agents never touch a socket themselves.
    const turned: boolean[] = [];
    let immediateFired = false;
    let first = true;
    const invoke: AgentInvoker = (target, task) => {
      if (first) turned.push(immediateFired);
      first = false;
      return fleet.invoke(target, task);
    };
    const engine = new EmbeddedEngine(invoke, { validate: false });
    for (let run = 0; run < 3; run++) {
      immediateFired = false;
      first = true;
      setImmediate(() => {
        immediateFired = true;
      });
      const outcome = await engine.runSync(machine, executionInput(plan, `c${run}`, {}));
      expect(outcome.status).toBe('SUCCEEDED');
    }
    expect(turned).toEqual([true, true, true]);
  });
});
