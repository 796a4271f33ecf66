import semverValidRange from 'semver/ranges/valid.js';
import * as z from 'zod';

/**
 * A semver range a capability's version must satisfy: what discovery queries and coordination
 * requests select by. Its own module, so agent cards (and so every agent bundle) do not carry
 * semver's range classes, and the compiler's request schema need not reach into the registry.
 */
export const semverRangeSchema = z.string().refine((v) => semverValidRange(v) !== null, {
  message: 'not a semver range; use forms such as "^1.2", "~1.4.0", ">=2 <3" or "*"',
});
