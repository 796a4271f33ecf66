import { describe, expect, it } from 'vitest';
import { CachedDirectory } from '../../functions/coordination/cached-directory.ts';
import { OutcomeRecorder } from '../../functions/coordination/outcome-recorder.ts';
import type { AgentRecord, OutcomeTally } from '../../functions/core/registry/agent-registry.ts';
import type { DiscoveryMatch } from '../../functions/core/registry/discovery.ts';

const record = (agentId: string, version: number) =>
  ({ card: { agentId }, status: 'healthy', version }) as unknown as AgentRecord;

function fakeDirectory() {
  const calls: string[][] = [];
  const gone = new Set(['ghost']);
  let version = 1;
  return {
    calls,
    bump: () => version++,
    deregister: (id: string) => gone.add(id),
    directory: {
      getMany: async (ids: readonly string[]) => {
        calls.push([...ids]);
        return new Map(ids.filter((id) => !gone.has(id)).map((id) => [id, record(id, version)]));
      },
      discover: async () => {
        calls.push(['discover']);
        return [{ agentId: `v${version}` }] as unknown as DiscoveryMatch[];
      },
    },
  };
}

const versionOf = (records: Map<string, AgentRecord>, id: string) =>
  (records.get(id) as unknown as { version: number } | undefined)?.version;
const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

describe('CachedDirectory', () => {
  it('serves fresh entries without a lookup, refreshes ageing ones in the background, waits for expired ones', async () => {
    let now = 0;
    const fake = fakeDirectory();
    const cache = new CachedDirectory(fake.directory, { ttlMs: 1000, now: () => now });

    await cache.getMany(['a', 'b']);
    now = 400;
    await cache.getMany(['a', 'b']);
    expect(fake.calls).toEqual([['a', 'b']]);

    now = 600; // past half the TTL: served at once, refreshed behind the caller's back
    fake.bump();
    expect(versionOf(await cache.getMany(['a']), 'a')).toBe(1);
    await tick();
    expect(fake.calls).toEqual([['a', 'b'], ['a']]);
    expect(versionOf(await cache.getMany(['a']), 'a')).toBe(2);

    now = 1000; // b, fetched at 0, has expired: the caller waits for the registry
    fake.bump();
    expect(versionOf(await cache.getMany(['b']), 'b')).toBe(3);
    expect(fake.calls).toEqual([['a', 'b'], ['a'], ['b']]);
  });

  it('never plans with a deregistered agent once the TTL has passed since the registry was asked', async () => {
    let now = 0;
    const fake = fakeDirectory();
    const cache = new CachedDirectory(fake.directory, { ttlMs: 1000, now: () => now });
    await cache.getMany(['a']);
    fake.deregister('a');
    now = 999;
    expect(versionOf(await cache.getMany(['a']), 'a')).toBe(1); // within the promise
    now = 1000;
    expect((await cache.getMany(['a'])).has('a')).toBe(false);
  });

  it('forgets an agent as soon as a background refresh no longer finds it', async () => {
    let now = 0;
    const fake = fakeDirectory();
    const cache = new CachedDirectory(fake.directory, { ttlMs: 1000, now: () => now });
    await cache.getMany(['a']);
    fake.deregister('a');
    now = 600;
    expect((await cache.getMany(['a'])).has('a')).toBe(true); // served while refreshed
    await tick();
    now = 601;
    expect((await cache.getMany(['a'])).has('a')).toBe(false);
  });

  it('never serves a discovery older than the TTL', async () => {
    let now = 0;
    const fake = fakeDirectory();
    const cache = new CachedDirectory(fake.directory, { ttlMs: 1000, now: () => now });
    expect(await cache.discover({ capability: 'x' })).toEqual([{ agentId: 'v1' }]);
    fake.bump();
    now = 1000;
    expect(await cache.discover({ capability: 'x' })).toEqual([{ agentId: 'v2' }]);
  });

  it('keeps the newer discovery when an older one answers last', async () => {
    let now = 0;
    const answers: ((matches: DiscoveryMatch[]) => void)[] = [];
    const cache = new CachedDirectory(
      {
        getMany: async () => new Map(),
        discover: () => new Promise<DiscoveryMatch[]>((resolve) => answers.push(resolve)),
      },
      { ttlMs: 1000, now: () => now },
    );
    const older = cache.discover({ capability: 'x' }); // sent at 0
    now = 2000;
    const newer = cache.discover({ capability: 'x' }); // sent at 2000, answers first
    answers[1]?.([{ agentId: 'new' }] as unknown as DiscoveryMatch[]);
    await newer;
    answers[0]?.([{ agentId: 'old' }] as unknown as DiscoveryMatch[]);
    await older;
    now = 2100;
    expect(await cache.discover({ capability: 'x' })).toEqual([{ agentId: 'new' }]);
  });

  it('never caches agents that were not found, and caches discoveries per query', async () => {
    const fake = fakeDirectory();
    const cache = new CachedDirectory(fake.directory, { ttlMs: 1000 });
    expect((await cache.getMany(['ghost'])).size).toBe(0);
    expect((await cache.getMany(['ghost'])).size).toBe(0);
    expect(fake.calls).toEqual([['ghost'], ['ghost']]);
    await cache.discover({ capability: 'x' });
    await cache.discover({ capability: 'x' });
    await cache.discover({ capability: 'y' });
    expect(fake.calls.filter((c) => c[0] === 'discover')).toHaveLength(2);
  });
});

describe('OutcomeRecorder', () => {
  it('coalesces outcomes into one write per agent, keeping the trailing run of failures for the breaker', async () => {
    const writes: [string, OutcomeTally][] = [];
    const recorder = new OutcomeRecorder({
      recordOutcomes: async (agentId: string, tally: OutcomeTally) =>
        void writes.push([agentId, tally]) as never,
    });
    recorder.add('a', true, 10);
    recorder.add('a', false, 0);
    recorder.add('b', true, 5);
    recorder.add('a', true, 20);
    await recorder.flush();
    expect(writes).toEqual([
      ['a', { requests: 3, errors: 1, latencyMs: 30, trailingFailures: 0, succeeded: true }],
      ['b', { requests: 1, errors: 0, latencyMs: 5, trailingFailures: 0, succeeded: true }],
    ]);
    await recorder.flush();
    expect(writes).toHaveLength(2);
  });

  it.each<[string, boolean[], Pick<OutcomeTally, 'trailingFailures' | 'succeeded'>]>([
    ['[fail, ok, fail]', [false, true, false], { trailingFailures: 1, succeeded: true }],
    ['[ok, fail, fail]', [true, false, false], { trailingFailures: 2, succeeded: true }],
    ['[fail, fail]', [false, false], { trailingFailures: 2, succeeded: false }],
    [
      'fail, ok alternating 11 times',
      Array.from({ length: 11 }, (_, i) => i % 2 === 1),
      { trailingFailures: 1, succeeded: true },
    ],
  ])(
    'a batch of %s leaves the breaker the failures after its last success',
    async (_, oks, breaker) => {
      const writes: OutcomeTally[] = [];
      const recorder = new OutcomeRecorder({
        recordOutcomes: async (_agentId: string, tally: OutcomeTally) =>
          void writes.push(tally) as never,
      });
      for (const ok of oks) recorder.add('a', ok, 1);
      await recorder.flush();
      expect(writes).toEqual([
        expect.objectContaining({ ...breaker, errors: oks.filter((ok) => !ok).length }),
      ]);
    },
  );

  it('paces a flush over the spread it is given, one write at a time', async () => {
    const starts: number[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const recorder = new OutcomeRecorder({
      recordOutcomes: async () => {
        starts.push(performance.now());
        maxInFlight = Math.max(maxInFlight, ++inFlight);
        await new Promise((resolve) => setTimeout(resolve, 5));
        inFlight--;
        return undefined as never;
      },
    });
    for (const agent of ['a', 'b', 'c', 'd']) recorder.add(agent, true, 1);
    await recorder.flush(400); // starts 100 ms apart
    expect(starts).toHaveLength(4);
    expect(maxInFlight).toBe(1);
    expect((starts[3] ?? 0) - (starts[0] ?? 0)).toBeGreaterThanOrEqual(290);
  });

  it('settle() hurries a paced flush along and waits for every write', async () => {
    const written: string[] = [];
    const recorder = new OutcomeRecorder({
      recordOutcomes: async (agentId: string) => void written.push(agentId) as never,
    });
    for (const agent of ['a', 'b', 'c']) recorder.add(agent, true, 1);
    void recorder.flush(600_000); // 200 s between writes, unless hurried
    recorder.add('d', true, 1);
    const started = performance.now();
    await recorder.settle();
    expect(written.sort()).toEqual(['a', 'b', 'c', 'd']);
    expect(performance.now() - started).toBeLessThan(10_000);
  });

  it('drops and counts a failed write instead of failing the coordination', async () => {
    const recorder = new OutcomeRecorder({
      recordOutcomes: async () => Promise.reject(new Error('throttled')),
    });
    recorder.add('a', true, 1);
    await expect(recorder.close()).resolves.toBeUndefined();
    expect(recorder.dropped).toBe(1);
  });
});
