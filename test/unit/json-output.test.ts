import { describe, expect, it } from 'vitest';
import { FatalAgentError } from '../../functions/core/messaging/agent-errors.ts';
import { jsonOutput } from '../../functions/core/sdk/json-output.ts';

describe('jsonOutput', () => {
  it('refuses a generator, which JSON would turn into {} and lose every chunk of', () => {
    async function* streaming() {
      yield 'chunk';
      return 'final';
    }
    function* sync() {
      yield 1;
    }
    expect(() => jsonOutput(streaming(), 'writer')).toThrow(FatalAgentError);
    expect(() => jsonOutput(streaming(), 'writer')).toThrow(
      'Agent writer returned an async generator, whose chunks this platform cannot stream yet: return the final value instead.',
    );
    expect(() => jsonOutput(sync(), 'writer')).toThrow('Agent writer returned a generator');
  });

  it('keeps ordinary values as JSON.stringify would', () => {
    expect(jsonOutput({ a: 1, gone: undefined, when: new Date(0) }, 'w')).toEqual({
      a: 1,
      when: '1970-01-01T00:00:00.000Z',
    });
    expect(jsonOutput([1, 'two'], 'w')).toEqual([1, 'two']);
    expect(jsonOutput(undefined, 'w')).toBeNull();
  });
});
