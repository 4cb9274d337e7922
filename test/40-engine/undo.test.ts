/**
 * Temporary changes recorded on the host before they are made, and put back by the next run
 * when the run that made them died (src/engine/undo.ts).
 */
import { describe, expect, it } from 'vitest';
import { runPlaybook, type RunOptions } from '../../src/engine/run.ts';
import { definePlay, definePlaybook } from '../../src/engine/play.ts';
import type { EngineEvent } from '../../src/engine/events.ts';
import type { Gather } from '../../src/engine/host-pool.ts';
import { healLeftovers, parseUndoRecords, recordUndo, temporarily, UNDO_DIR, UNDO_PROBE, type UndoRecord } from '../../src/engine/undo.ts';
import { FakeTransport, fakeGather, fakeHostState, defineFakeOp } from '../support/fake-transport.ts';
import { memoryInventory } from '../support/inventory.ts';

const leftover: UndoRecord = { id: 'haproxy:postgres_replicas:pg3', what: 'pg3 in DRAIN in postgres_replicas on lb1', undo: 'set healed yes', run: '1@x', at: '2026-12-07T00:00:00Z' };

function run(check: boolean, leftovers: UndoRecord[]) {
  const state = fakeHostState();
  const events: EngineEvent[] = [];
  const gather: Gather = async (exec, host) => ({ ...(await fakeGather(exec, host)), leftovers });
  const opts = {
    openTransport: (h: { name: string }) => new FakeTransport(h.name, state),
    gather,
    check,
    reporter: { event: (e: EngineEvent) => events.push(e), close: async () => {} },
  } as RunOptions;
  const pb = definePlaybook('t', definePlay({ name: 'p', hosts: 'lb', tasks: () => [defineFakeOp('conf', 'x')] }));
  return { state, events, done: runPlaybook(pb, memoryInventory({ lb: ['lb1'] }), opts) };
}

describe('undo records', () => {
  it('a run puts back what an interrupted run left before its first task, says so, and removes the record', async () => {
    const r = run(false, [leftover]);
    const recap = await r.done;
    expect(r.state.values.get('healed')).toBe('yes');
    const healAt = r.state.commands.indexOf('set healed yes');
    const firstTask = r.state.commands.findIndex((c) => c.includes('get conf'));
    expect(healAt).toBeGreaterThanOrEqual(0);
    expect(healAt).toBeLessThan(firstTask);
    expect(r.state.commands[healAt + 1]).toBe(`rm -f '${UNDO_DIR}/haproxy_postgres_replicas_pg3.json'`);
    expect(recap.hosts.lb1!.warnings.join('\n')).toMatch(/put back what an interrupted run left: pg3 in DRAIN in postgres_replicas on lb1 \(run 1@x/);
  });

  it('--check only reports it', async () => {
    const r = run(true, [leftover]);
    const recap = await r.done;
    expect(r.state.values.has('healed')).toBe(false);
    expect(recap.hosts.lb1!.warnings.join('\n')).toMatch(/an interrupted run left: pg3 in DRAIN .*the next run that changes things puts it back/);
  });

  it('a failing undo is a warning naming it, and the record stays', async () => {
    const out = await healLeftovers({ exec: async () => ({ code: 3, stdout: '', stderr: 'haproxy admin socket not found' }) }, [leftover], false);
    expect(out).toEqual([{ record: leftover, done: false, error: 'haproxy admin socket not found' }]);
  });

  it('records are one JSON line each; unreadable lines are skipped', () => {
    expect(parseUndoRecords(`${JSON.stringify(leftover)}\nnot json\n{"id":"x"}\n`)).toEqual([leftover]);
    expect(UNDO_PROBE).toContain(`${UNDO_DIR}/*.json`);
  });

  it('temporarily: recorded before the change, put back and cleared after, also when the work fails', async () => {
    const log: string[] = [];
    const host = { exec: async (s: string, o?: { stdin?: unknown }) => (log.push(s.startsWith('umask') ? `record ${String(o?.stdin).includes('"id":"k"')}` : s), { code: 0, stdout: '', stderr: '' }) };
    await expect(
      temporarily(host, { id: 'k', what: 'w', undo: 'u' }, async () => void log.push('change'), async () => {
        log.push('work');
        throw new Error('boom');
      }, async () => void log.push('revert')),
    ).rejects.toThrow('boom');
    expect(log).toEqual(['record true', 'change', 'work', 'revert', `rm -f '${UNDO_DIR}/k.json'`]);
  });

  it('a record that cannot be written stops the change', async () => {
    await expect(recordUndo({ exec: async () => ({ code: 1, stdout: '', stderr: 'read-only file system' }) }, { id: 'k', what: 'pg3 drained', undo: 'u' })).rejects.toThrow(/could not record how to undo "pg3 drained" \(so it is not made\): read-only file system/);
  });
});
