import { describe, expect, it } from 'vitest';
import { inspect } from 'node:util';
import { Secret, redact, MASK } from '../../src/core/secret.ts';

describe('Secret', () => {
  it('never prints its value', () => {
    const s = new Secret('hunter2-very-secret');
    expect(String(s)).toBe(MASK);
    expect(JSON.stringify({ s })).toBe(`{"s":"${MASK}"}`);
    expect(inspect(s)).not.toContain('hunter2');
    expect(s.reveal()).toBe('hunter2-very-secret');
  });
  it('redacts known values inside other text', () => {
    new Secret('pa55-word-xyz');
    expect(redact('password=pa55-word-xyz;')).toBe(`password=${MASK};`);
  });
});
