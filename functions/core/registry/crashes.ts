import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { UpdateExpressionBuilder } from '../aws/update-expression.ts';
import type { RegistryStore } from './store.ts';
import { agentKey } from './table.ts';

/**
 * Errors that say the agent's execution environment died with the task, not that the agent
 * answered with a failure: Lambda's Node.js runtime exiting (`process.exit`, an uncaught
 * exception), an unhandled rejection, the function's own timeout, and what Step Functions reports
 * when Lambda cannot say more. The embedded runtime raises the same names for the same events (see
 * functions/embedded/crash-containment.ts). A step timeout (`States.Timeout`) is not one: the
 * step's time is the caller's choice, and a slow agent is not a dead one. Its failure counts
 * against the agent's breaker as any failure does.
 */
export const CRASH_ERRORS: ReadonlySet<string> = new Set([
  'Runtime.ExitError',
  'Runtime.UnhandledPromiseRejection',
  'Runtime.Unknown',
  'Sandbox.Timedout',
  'Lambda.Unknown',
  'States.HeartbeatTimeout',
]);

export function isCrash(error: string | null | undefined): boolean {
  return error !== null && error !== undefined && CRASH_ERRORS.has(error);
}

/**
 * Marks an agent that crashed at `atMs` unhealthy (its reported status), unless it has heartbeated
 * since: the next heartbeat withdraws the mark (a heartbeat without a status clears it, see
 * Registrar.heartbeat), so the agent is unhealthy exactly from its crash to its next sign of life,
 * however late the mark is written. Resolves false when the agent is gone, heartbeated since, or
 * is draining (stopping: it takes no new work either way).
 */
export async function markCrashed(
  store: RegistryStore,
  agentId: string,
  atMs: number,
): Promise<boolean> {
  const update = new UpdateExpressionBuilder().set('reportedStatus', 'unhealthy');
  const beat = update.name('lastHeartbeatAt');
  update.condition('attribute_exists(pk)');
  update.condition(`attribute_not_exists(${beat}) OR ${beat} < ${update.value(atMs)}`);
  // A draining agent already takes no new work, and its mark says why.
  const reported = update.name('reportedStatus');
  update.condition(
    `attribute_not_exists(${reported}) OR ${reported} <> ${update.value('draining')}`,
  );
  try {
    await store.client.send(
      new UpdateCommand({ TableName: store.tableName, Key: agentKey(agentId), ...update.build() }),
    );
    return true;
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) return false;
    throw error;
  }
}
