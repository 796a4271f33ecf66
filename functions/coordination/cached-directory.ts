import { canonicalJson } from '../core/canonical-json.ts';
import type { AgentRecord } from '../core/registry/agent-registry.ts';
import type { DiscoveryMatch } from '../core/registry/discovery.ts';
import type { AgentDirectory } from './planner.ts';

interface Entry<T> {
  value: T;
  /** When the lookup that produced it was sent: the registry's state is at least this recent. */
  at: number;
}

/**
 * Agent lookups for planning, reused per process for at most `ttlMs` from the moment the registry
 * was asked: an agent deregistered, tripped or gone offline is planned with for `ttlMs` at most
 * (the runtime and the API use one second). Under steady traffic nobody waits for the registry: an
 * entry older than `refreshAfterMs` (half the TTL by default) is still served while it is refreshed
 * in the background, so it is replaced before it expires; an expired entry is never served, the
 * lookup waits. Agents not found are never cached, and a lookup that no longer finds an agent
 * evicts it at once.
 */
export class CachedDirectory implements AgentDirectory {
  readonly #inner: AgentDirectory;
  readonly #ttlMs: number;
  readonly #refreshAfterMs: number;
  readonly #now: () => number;
  readonly #records = new Map<string, Entry<AgentRecord>>();
  readonly #discoveries = new Map<string, Entry<DiscoveryMatch[]>>();
  readonly #refreshing = new Set<string>();

  constructor(
    inner: AgentDirectory,
    options: { ttlMs: number; refreshAfterMs?: number; now?: () => number },
  ) {
    if (!(options.ttlMs > 0)) throw new RangeError(`ttlMs must be positive, not ${options.ttlMs}`);
    this.#inner = inner;
    this.#ttlMs = options.ttlMs;
    this.#refreshAfterMs = Math.min(options.refreshAfterMs ?? options.ttlMs / 2, options.ttlMs);
    this.#now = options.now ?? Date.now;
  }

  async getMany(agentIds: readonly string[]): Promise<Map<string, AgentRecord>> {
    const now = this.#now();
    const found = new Map<string, AgentRecord>();
    const missing: string[] = [];
    const ageing: string[] = [];
    for (const id of agentIds) {
      const entry = this.#records.get(id);
      const age = entry === undefined ? Number.POSITIVE_INFINITY : now - entry.at;
      if (entry === undefined || age >= this.#ttlMs) missing.push(id);
      else {
        found.set(id, entry.value);
        if (age >= this.#refreshAfterMs) ageing.push(id);
      }
    }
    if (missing.length > 0)
      for (const [id, record] of await this.#fetch(missing)) found.set(id, record);
    const refresh = ageing.filter((id) => !this.#refreshing.has(id));
    if (refresh.length > 0) {
      for (const id of refresh) this.#refreshing.add(id);
      void this.#fetch(refresh)
        .catch(() => undefined) // the entries stay until they expire; the next lookup tries again
        .finally(() => {
          for (const id of refresh) this.#refreshing.delete(id);
        });
    }
    return found;
  }

  async discover(query: unknown): Promise<DiscoveryMatch[]> {
    const key = canonicalJson(query);
    const now = this.#now();
    const entry = this.#discoveries.get(key);
    const age = entry === undefined ? Number.POSITIVE_INFINITY : now - entry.at;
    if (entry === undefined || age >= this.#ttlMs) return this.#discover(key, query);
    if (age >= this.#refreshAfterMs && !this.#refreshing.has(key)) {
      this.#refreshing.add(key);
      void this.#discover(key, query)
        .catch(() => undefined)
        .finally(() => this.#refreshing.delete(key));
    }
    return entry.value;
  }

  async #fetch(ids: readonly string[]): Promise<Map<string, AgentRecord>> {
    const at = this.#now();
    const records = await this.#inner.getMany(ids);
    for (const id of ids) {
      // A lookup sent earlier than the entry's own answers for an older registry: it changes nothing.
      if ((this.#records.get(id)?.at ?? Number.NEGATIVE_INFINITY) > at) continue;
      const record = records.get(id);
      // An agent the registry no longer has is forgotten now, not when its entry expires.
      if (record === undefined) this.#records.delete(id);
      else this.#records.set(id, { value: record, at });
    }
    return records;
  }

  async #discover(key: string, query: unknown): Promise<DiscoveryMatch[]> {
    const at = this.#now();
    const matches = await this.#inner.discover(query);
    // As in #fetch: a discovery sent before the entry's own answers for an older registry.
    if ((this.#discoveries.get(key)?.at ?? Number.NEGATIVE_INFINITY) > at) return matches;
    // Unbounded query shapes must not leak memory.
    if (this.#discoveries.size >= 1000) this.#discoveries.clear();
    this.#discoveries.set(key, { value: matches, at });
    return matches;
  }
}
