/**
 * Lambda's shutdown signal. Lambda sends the runtime SIGTERM before it ends an execution
 * environment only when an extension is registered in the function (the CDK Agent construct
 * takes `layers` or `insightsVersion` for one, and warns at synth when an agent declares `onStop`
 * with neither; see docs/scaling.md), and then allows
 * the shutdown phase 500 ms with internal extensions only, 2 s with external ones. Without an
 * extension there is no signal: the environment is frozen and dropped.
 *
 * A SIGTERM listener replaces Node's default (exit at once), so the listener exits itself once
 * every agent of the process has run its shutdown. Installed only inside Lambda: elsewhere (the
 * embedded runtime, tests, a user's server) SIGTERM belongs to whoever runs the process, and the
 * embedded runtime calls each agent's `stop()` itself.
 */
const shutdowns = new Set<() => Promise<void>>();
let installed = false;

export function onLambdaShutdown(shutdown: () => Promise<void>): void {
  if (process.env.AWS_LAMBDA_FUNCTION_NAME === undefined) return;
  shutdowns.add(shutdown);
  if (installed) return;
  installed = true;
  process.once('SIGTERM', () => {
    void Promise.allSettled([...shutdowns].map((run) => run())).finally(() => process.exit(0));
  });
}
