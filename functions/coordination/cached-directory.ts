import { canonicalJson } from '../core/canonical-json.ts';
import type { AgentRecord } from '../core/registry/agent-registry.ts';
import type { DiscoveryMatch } from '../core/registry/discovery.ts';
import type { AgentDirectory } from './planner.ts';

interface Entry<T> {
  value: T;
  at: number;
}

/**
 * Agent lookups for planning, reused per process: an entry younger than `ttlMs` is used as is; an
 * older one (up to `maxStaleMs`) is used once more while it is refreshed in the background, so no
 * coordination waits for the refresh; older still, the lookup waits for the registry. Under steady
 * traffic a coordination plans without a registry round trip, acting on agent state (health,
 * breaker) about `ttlMs` old — the runtime and the API use one second. Agents not found are
 * never cached.
 */
export class CachedDirectory implements AgentDirectory {
  readonly #inner: AgentDirectory;
  readonly #ttlMs: number;
  readonly #maxStaleMs: number;
  readonly #now: () => number;
  readonly #records = new Map<string, Entry<AgentRecord>>();
  readonly #discoveries = new Map<string, Entry<DiscoveryMatch[]>>();
  readonly #refreshing = new Set<string>();

  constructor(
    inner: AgentDirectory,
    options: { ttlMs: number; maxStaleMs?: number; now?: () => number },
  ) {
    this.#inner = inner;
    this.#ttlMs = options.ttlMs;
    this.#maxStaleMs = options.maxStaleMs ?? options.ttlMs * 5;
    this.#now = options.now ?? Date.now;
  }

  async getMany(agentIds: readonly string[]): Promise<Map<string, AgentRecord>> {
    const now = this.#now();
    const found = new Map<string, AgentRecord>();
    const missing: string[] = [];
    const stale: string[] = [];
    for (const id of agentIds) {
      const entry = this.#records.get(id);
      const age = entry === undefined ? Number.POSITIVE_INFINITY : now - entry.at;
      if (entry === undefined || age > this.#maxStaleMs) missing.push(id);
      else {
        found.set(id, entry.value);
        if (age > this.#ttlMs) stale.push(id);
      }
    }
    if (missing.length > 0)
      for (const [id, record] of await this.#fetch(missing)) found.set(id, record);
    const refresh = stale.filter((id) => !this.#refreshing.has(id));
    if (refresh.length > 0) {
      for (const id of refresh) this.#refreshing.add(id);
      void this.#fetch(refresh)
        .catch(() => undefined) // the stale entries stay; the next lookup tries again
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
    if (entry !== undefined && age <= this.#maxStaleMs) {
      if (age > this.#ttlMs && !this.#refreshing.has(key)) {
        this.#refreshing.add(key);
        void this.#discover(key, query)
          .catch(() => undefined)
          .finally(() => this.#refreshing.delete(key));
      }
      return entry.value;
    }
    return this.#discover(key, query);
  }

  async #fetch(ids: readonly string[]): Promise<Map<string, AgentRecord>> {
    const records = await this.#inner.getMany(ids);
    const at = this.#now();
    for (const [id, record] of records) this.#records.set(id, { value: record, at });
    return records;
  }

  async #discover(key: string, query: unknown): Promise<DiscoveryMatch[]> {
    const matches = await this.#inner.discover(query);
    // Unbounded query shapes must not leak memory.
    if (this.#discoveries.size >= 1000) this.#discoveries.clear();
    this.#discoveries.set(key, { value: matches, at: this.#now() });
    return matches;
  }
}
