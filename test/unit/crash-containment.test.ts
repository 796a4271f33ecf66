import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CrashContainment } from '../../functions/embedded/crash-containment.ts';

const ROOT = join(import.meta.dirname, '..', '..');

describe('CrashContainment', () => {
  const containment = new CrashContainment();
  afterEach(() => containment.uninstall());

  it('fails only the invocation an uncaught exception came from, with Lambda Runtime.ExitError', async () => {
    containment.install();
    const crashing = containment.run('crasher', async () => {
      await new Promise(() => {
        setTimeout(() => {
          throw new TypeError('cannot read properties of undefined');
        }, 5);
      });
    });
    const healthy = containment.run('other', async () => {
      await new Promise((resolve) => setTimeout(resolve, 30));
      return 'answered';
    });
    await expect(crashing).rejects.toMatchObject({
      name: 'Runtime.ExitError',
      message: 'Runtime exited with error: TypeError: cannot read properties of undefined',
    });
    await expect(healthy).resolves.toBe('answered');
  });

  it('stops an invocation past its timeout with Sandbox.Timedout', async () => {
    const started = performance.now();
    await expect(
      containment.run('hanger', () => new Promise(() => undefined), 50),
    ).rejects.toMatchObject({
      name: 'Sandbox.Timedout',
      message: 'Task timed out after 0.05 seconds',
    });
    expect(performance.now() - started).toBeGreaterThanOrEqual(45);
  });

  it('passes answers and errors through unchanged', async () => {
    await expect(containment.run('a', async () => 42, 1000)).resolves.toBe(42);
    const error = Object.assign(new Error('bad input'), { name: 'FatalAgentError' });
    await expect(containment.run('a', () => Promise.reject(error))).rejects.toBe(error);
  });

  // In a process of its own: this runner's own listener would report the rejection as a failure.
  it('fails an invocation that leaves a rejection unhandled with Runtime.UnhandledPromiseRejection, and keeps the process', () => {
    const script = `
      import { CrashContainment } from './functions/embedded/crash-containment.ts';
      const containment = new CrashContainment();
      containment.install();
      const crashed = await containment
        .run('leaky', async () => {
          void Promise.reject(new Error('nobody awaited me'));
          await new Promise(() => undefined);
        })
        .catch((error) => ({ name: error.name, message: error.message }));
      containment.uninstall();
      console.log(JSON.stringify(crashed));
    `;
    const child = spawnSync(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 30_000,
      },
    );
    expect(child.status).toBe(0);
    expect(JSON.parse(child.stdout.trim().split('\n').at(-1) ?? '{}')).toEqual({
      name: 'Runtime.UnhandledPromiseRejection',
      message: 'Unhandled promise rejection: Error: nobody awaited me',
    });
  });

  // Two embedded runtimes in one process: each had its own listener, saw the other's, and left
  // such a rejection to it, so nobody handled it.
  it("with two instances installed, contains each one's invocations and still leaves a rejection outside them to Node", () => {
    const script = `
      import { CrashContainment } from './functions/embedded/crash-containment.ts';
      const first = new CrashContainment();
      const second = new CrashContainment();
      first.install();
      second.install();
      const crashed = await second
        .run('leaky', async () => {
          void Promise.reject(new Error('nobody awaited me'));
          await new Promise(() => undefined);
        })
        .catch((error) => error.name);
      console.log('contained: ' + crashed);
      void Promise.reject(new Error('not an agent'));
      setTimeout(() => console.log('still running'), 200);
    `;
    const child = spawnSync(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 30_000,
      },
    );
    expect(child.stdout).toContain('contained: Runtime.UnhandledPromiseRejection');
    expect(child.status).toBe(1);
    expect(child.stderr).toContain('not an agent');
    expect(child.stdout).not.toContain('still running');
  });

  it('leaves an error raised outside every invocation to Node: printed, exit code 1', () => {
    const script = `
      import { CrashContainment } from './functions/embedded/crash-containment.ts';
      new CrashContainment().install();
      setTimeout(() => { throw new Error('not an agent'); }, 5);
      setTimeout(() => console.log('still running'), 200);
    `;
    const child = spawnSync(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 30_000,
      },
    );
    expect(child.status).toBe(1);
    expect(child.stderr).toContain('not an agent');
    expect(child.stdout).not.toContain('still running');
  });
});
