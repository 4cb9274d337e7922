/** The toolkit roles and day-2 steps share: waits, run-wide state, inventory lookups. */
import { describe, expect, it } from 'vitest';
import { RunState, hostsOf, stateKey, stateKeys, varsOf, waitUntil } from '../../src/toolkit/index.ts';
import { defineRole } from '../../src/engine/role.ts';
import { z } from 'zod';
import { memoryInventory } from '../support/inventory.ts';

describe('waitUntil', () => {
  it('returns the value once done', async () => {
    let n = 0;
    const v = await waitUntil('three tries', 10_000, async () => (++n < 3 ? { done: false, seen: `try ${n}` } : { done: true, value: n }), { intervalMs: 1 });
    expect(v).toBe(3);
  });

  it('says what it waited for and what it saw last', async () => {
    let n = 0;
    await expect(
      waitUntil('the moon', 0, async () => ({ done: false, seen: `phase ${++n}` }), { more: async () => 'journal tail' }),
    ).rejects.toThrow(/timed out after 0 s waiting for the moon; last seen: phase 1\njournal tail/);
  });
});

describe('RunState.oneAtATime', () => {
  it('runs callers in turn and stops the queue after a failure', async () => {
    const shared = new RunState();
    const k = stateKey<Promise<unknown>>('k');
    const order: string[] = [];
    const step = (name: string, fail = false) =>
      shared.oneAtATime(k, async () => {
        order.push(`start ${name}`);
        await new Promise((r) => setTimeout(r, 5));
        order.push(`end ${name}`);
        if (fail) throw new Error(`${name} broke`);
      });
    const results = await Promise.allSettled([step('a'), step('b', true), step('c')]);
    expect(order).toEqual(['start a', 'end a', 'start b', 'end b']);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'rejected']);
    expect((results[2] as PromiseRejectedResult).reason.message).toMatch(/earlier one failed \(b broke\)/);
  });
});

describe('RunState', () => {
  it('once: computes once for every caller, and a failure reaches every caller without an unhandled rejection', async () => {
    const s = new RunState();
    const k = stateKey<Promise<number>>('n');
    let calls = 0;
    const f = async () => ++calls;
    expect(await Promise.all([s.once(k, f), s.once(k, f)])).toEqual([1, 1]);
    const bad = stateKey<Promise<number>>('bad');
    const p = s.once(bad, async () => { throw new Error('no'); });
    await new Promise((r) => setTimeout(r, 5)); // an unhandled rejection would fail the run here
    await expect(p).rejects.toThrow('no');
    await expect(s.once(bad, f)).rejects.toThrow('no');
  });

  it('deferred: one host settles it, the others wait on the same promise', async () => {
    const s = new RunState();
    const k = stateKey<import('../../src/toolkit/index.ts').Deferred<string>>('d');
    const waiting = s.deferred(k).promise;
    s.deferred(k).resolve('up');
    expect(await waiting).toBe('up');
    const k2 = stateKey<import('../../src/toolkit/index.ts').Deferred<string>>('d2');
    s.deferred(k2).reject(new Error('down'));
    await new Promise((r) => setTimeout(r, 5));
    await expect(s.deferred(k2).promise).rejects.toThrow('down');
  });

  it('keys of a family are told apart by their parts; take reads once', () => {
    const s = new RunState();
    const seen = stateKeys<string>('seen');
    s.set(seen('main', 'pg1'), 'a');
    s.set(seen('main', 'pg2'), 'b');
    expect(s.take(seen('main', 'pg1'))).toBe('a');
    expect(s.get(seen('main', 'pg1'))).toBeUndefined();
    expect(s.get(seen('main', 'pg2'))).toBe('b');
  });
});

describe('hostsOf and varsOf', () => {
  const inv = memoryInventory({ postgres: ['pg1', 'pg2'], empty: [] });
  it('lists a group in inventory order; a missing group is an error only when needed', () => {
    expect(hostsOf(inv, 'postgres').map((h) => h.name)).toEqual(['pg1', 'pg2']);
    expect(hostsOf(inv, 'nope')).toEqual([]);
    expect(() => hostsOf(inv, 'nope', { varName: 'haproxy.backendGroup' })).toThrow(/no group "nope" \(haproxy.backendGroup\)/);
    expect(() => hostsOf(inv, 'empty', { varName: 'etcd.group', nonEmpty: true })).toThrow(/"empty" \(etcd.group\) is empty/);
  });
  it('validates a peer\'s vars through the role schema, naming host and field', () => {
    const role = defineRole({ name: 'demo', vars: z.object({ port: z.number().default(1) }), tasks: () => [] });
    const h = inv.hosts.get('pg1')!;
    expect(varsOf(role, h, inv).port).toBe(1);
    const bad = { ...h, vars: { demo: { port: 'x' } } };
    expect(() => varsOf(role, bad, inv)).toThrow(/host pg1: demo.port/);
  });
});
