/**
 * The cluster-wide run lock in the engine, over fake hosts (the fake transport emulates the
 * lock's three scripts; test/50-cli/run-lock-sshd.test.ts runs the real ones on OpenSSH).
 */
import { describe, expect, it } from 'vitest';
import { MEMBERS_FILE, parseMembers } from '../../src/engine/membership.ts';
import { runPlaybook, type RunOptions } from '../../src/engine/run.ts';
import { definePlay, definePlaybook } from '../../src/engine/play.ts';
import type { EngineEvent, Reporter } from '../../src/engine/events.ts';
import type { Task } from '../../src/engine/types.ts';
import { RUN_LOCK_MARK, formatRecord, type LockHolder } from '../../src/engine/run-lock.ts';
import { exitCode } from '../../src/report/recap.ts';
import { FakeTransport, fakeGather, fakeHostState, defineFakeOp, type FakeHostState } from '../support/fake-transport.ts';
import { memoryInventory } from '../support/inventory.ts';

class Collect implements Reporter {
  events: EngineEvent[] = [];
  event(e: EngineEvent) {
    this.events.push(e);
  }
  async close() {}
  warnings() {
    return this.events.filter((e): e is Extract<EngineEvent, { type: 'warn' }> => e.type === 'warn');
  }
}

const inv = memoryInventory({ postgres: ['pg2', 'pg1', 'pg3'], balancers: ['lb1'], backup: ['bk1'] });
const NAMES = ['pg1', 'pg2', 'pg3', 'lb1', 'bk1'];

/** Every script run on any host, in order, as [host, kind]. */
function setup(over: Partial<RunOptions> = {}, prepare: (hosts: Record<string, FakeHostState>) => void = () => {}) {
  const hosts = Object.fromEntries(NAMES.map((n) => [n, fakeHostState()]));
  prepare(hosts);
  const log: Array<[string, string]> = [];
  const reporter = new Collect();
  const openTransport = (h: { name: string }) => {
    const t = new FakeTransport(h.name, hosts[h.name]!);
    const exec = t.exec.bind(t);
    t.exec = (script, opts) => {
      const kind = script.startsWith(RUN_LOCK_MARK)
        ? script.includes('STALE=')
          ? 'lock'
          : script.includes('rm -f "$L"')
            ? 'unlock'
            : 'heartbeat'
        : script.startsWith('set ')
          ? 'change'
          : 'other';
      log.push([h.name, kind]);
      return exec(script, opts);
    };
    return t;
  };
  const opts: RunOptions = { openTransport, gather: fakeGather, reporter, ...over };
  return { hosts, log, reporter, opts };
}

const lastIndex = (log: Array<[string, string]>, kind: string) => log.map(([, k]) => k).lastIndexOf(kind);

const other: LockHolder = { runId: 'other-run-1', controlHost: 'ctl9', pid: 4242, user: 'alice', playbook: 'upgrade', started: '2030-01-02T03:04:05.000Z' };

const dbPlay = definePlay({ name: 'db', hosts: 'postgres', tasks: () => [defineFakeOp('conf', '1')] });
const lbPlay = definePlay({ name: 'lb', hosts: 'balancers', beyondLimit: 'all', tasks: () => [defineFakeOp('lbconf', '1')] });

describe('run lock', () => {
  it('is taken on every host the plays target, --limit ignored, in name order, before the first task; released at the end', async () => {
    const { hosts, log, opts } = setup({ limit: 'pg2' });
    const r = await runPlaybook(definePlaybook('site', dbPlay, lbPlay), inv, opts);
    expect(r.ok).toBe(true);
    const locks = log.filter(([, k]) => k === 'lock').map(([h]) => h);
    expect(locks).toEqual(['lb1', 'pg1', 'pg2', 'pg3']); // bk1 is in no play
    const firstChange = log.findIndex(([, k]) => k === 'change');
    expect(firstChange).toBeGreaterThan(lastIndex(log, 'lock'));
    expect(log.filter(([, k]) => k === 'unlock').map(([h]) => h).sort()).toEqual(locks);
    expect(log.findIndex(([, k]) => k === 'unlock')).toBeGreaterThan(lastIndex(log, 'change'));
    for (const n of NAMES) expect(hosts[n]!.lock).toBeUndefined();
    expect(hosts.pg1!.values.size).toBe(0); // limited out of the db play: locked, not changed
    expect(hosts.lb1!.values.get('lbconf')).toBe('1');
  });

  it('a lock held by a live run stops the run before any change, names the host and the holder, and gives back what it took', async () => {
    const { hosts, log, opts } = setup({}, (h) => {
      h.pg2!.lock = formatRecord(other);
      h.pg2!.lockAgeS = 3;
    });
    const r = await runPlaybook(definePlaybook('site', dbPlay, lbPlay), inv, opts);
    expect(r.ok).toBe(false);
    expect(exitCode(r)).toBe(1);
    expect(r.aborted).toMatch(/run lock: pg2 is locked by run other-run-1 \(alice@ctl9, pid 4242, playbook upgrade\) since 2030-01-02T03:04:05.000Z, last heartbeat 3 s ago/);
    expect(r.aborted).toMatch(/--break-lock/);
    expect(log.some(([, k]) => k === 'change')).toBe(false);
    expect(log.filter(([, k]) => k === 'lock').map(([h]) => h)).toEqual(['lb1', 'pg1', 'pg2']); // stops at pg2
    expect(hosts.lb1!.lock).toBeUndefined();
    expect(hosts.pg1!.lock).toBeUndefined();
    expect(hosts.pg2!.lock).toBe(formatRecord(other)); // not ours: untouched
  });

  it('a stale lock is taken over with a warning naming the dead run; --break-lock takes a live one', async () => {
    const stale = setup({ lock: { staleMs: 60_000 } }, (h) => {
      h.pg3!.lock = formatRecord(other);
      h.pg3!.lockAgeS = 61;
    });
    const r1 = await runPlaybook(definePlaybook('site', dbPlay), inv, stale.opts);
    expect(r1.ok).toBe(true);
    const w = stale.reporter.warnings().find((e) => e.host === 'pg3');
    expect(w?.message).toMatch(/TAKEN OVER from run other-run-1 \(alice@ctl9, pid 4242, playbook upgrade\).*older than 60 s/);
    expect(r1.hosts.pg3!.warnings.join()).toMatch(/TAKEN OVER/);

    const broken = setup({ lock: { breakLock: true } }, (h) => {
      h.pg1!.lock = formatRecord(other);
      h.pg1!.lockAgeS = 1;
    });
    const r2 = await runPlaybook(definePlaybook('site', dbPlay), inv, broken.opts);
    expect(r2.ok).toBe(true);
    expect(broken.reporter.warnings().find((e) => e.host === 'pg1')?.message).toMatch(/TAKEN OVER from run other-run-1.*--break-lock/);
    expect(broken.hosts.pg1!.lock).toBeUndefined();
  });

  it('--check and a read-only playbook run beside a held lock, without touching it', async () => {
    for (const [pb, check] of [
      [definePlaybook('site', dbPlay), true],
      [definePlaybook({ name: 'status', readOnly: true }, dbPlay), false],
    ] as const) {
      const { hosts, log, opts } = setup({ check }, (h) => {
        h.pg1!.lock = formatRecord(other);
      });
      const r = await runPlaybook(pb, inv, opts);
      expect(r.ok).toBe(true);
      expect(log.some(([, k]) => k !== 'other' && k !== 'change')).toBe(false);
      expect(hosts.pg1!.lock).toBe(formatRecord(other));
    }
  });

  it('an unreachable host is not locked (and reported unreachable); the others are', async () => {
    const { hosts, log, opts } = setup({}, (h) => {
      h.pg2!.unreachable = true;
      // pg2 is a member the cluster knows (a member down): the others go on without it.
      for (const n of ['pg1', 'pg3']) h[n]!.files.set(MEMBERS_FILE, JSON.stringify({ hosts: ['pg1', 'pg2', 'pg3'] }));
    });
    const r = await runPlaybook(definePlaybook('site', dbPlay), inv, opts);
    expect(r.hosts.pg2!.unreachable).toBe(true);
    expect(r.refused).toBeUndefined();
    expect(log.filter(([, k]) => k === 'lock').map(([h]) => h)).toEqual(['pg1', 'pg3']);
    expect(hosts.pg1!.values.get('conf')).toBe('1');
  });

  it('an unreachable host the cluster has never had stops the run before any change (exit 4); a run that reached everyone records the members once', async () => {
    const first = setup({}, (h) => {
      h.pg2!.unreachable = true;
    });
    const r = await runPlaybook(definePlaybook('site', dbPlay), inv, first.opts);
    expect(r.refused).toBe('unreachable-newcomer');
    expect(exitCode(r)).toBe(4);
    expect(r.hosts.pg2!.unreachable).toBe(true);
    expect(r.aborted).toMatch(/pg2 cannot be reached and is not yet a member of the cluster/);
    expect(first.hosts.pg1!.values.has('conf')).toBe(false);
    expect(first.hosts.pg3!.values.has('conf')).toBe(false);
    expect(first.hosts.pg1!.files.has(MEMBERS_FILE)).toBe(false);

    const ok = setup({});
    const r2 = await runPlaybook(definePlaybook('site', dbPlay), inv, ok.opts);
    expect(r2.ok).toBe(true);
    for (const n of ['pg1', 'pg2', 'pg3']) expect(parseMembers(ok.hosts[n]!.files.get(MEMBERS_FILE) ?? ''), n).toEqual(['pg1', 'pg2', 'pg3']);
    const writes = () => ok.hosts.pg1!.commands.filter((c) => c.includes(`${MEMBERS_FILE}.tmp`)).length;
    expect(writes()).toBe(1);
    await runPlaybook(definePlaybook('site', dbPlay), inv, { ...ok.opts });
    expect(writes(), 'a second run has nothing to record').toBe(1);
  });

  it('heartbeats while it runs; a lock taken from under it stops the run before the next batch', async () => {
    let hosts: Record<string, FakeHostState> = {};
    let beats = 0;
    // eslint-disable-next-line prefer-const
    let s: ReturnType<typeof setup>;
    const wait: Task = {
      kind: 'run',
      name: 'wait for heartbeats',
      run: async () => {
        for (let i = 0; i < 500 && beats < 2; i++) await new Promise((r) => setTimeout(r, 5));
        hosts.pg1!.lock = formatRecord(other); // another run broke our lock
        for (let i = 0; i < 500 && !s.reporter.events.some((e) => e.type === 'abort'); i++) await new Promise((r) => setTimeout(r, 5));
        return { changed: false };
      },
    };
    s = setup({ lock: { heartbeatMs: 10 } });
    hosts = s.hosts;
    const exec = s.opts.openTransport;
    s.opts.openTransport = (h) => {
      const t = exec(h);
      const inner = t.exec.bind(t);
      t.exec = (script, o) => {
        if (h.name === 'pg1' && script.startsWith(RUN_LOCK_MARK) && !script.includes('STALE=') && !script.includes('rm -f "$L"')) beats++;
        return inner(script, o);
      };
      return t;
    };
    const roll = definePlay({ name: 'roll', hosts: 'postgres', serial: 1, tasks: (ctx) => (ctx.host.name === 'pg1' ? [wait] : [defineFakeOp('conf', '1')]) });
    const r = await runPlaybook(definePlaybook('site', roll), inv, s.opts);
    expect(beats).toBeGreaterThanOrEqual(2);
    expect(r.aborted).toMatch(/our lock on pg1 was taken by run other-run-1/);
    expect(hosts.pg2!.values.get('conf')).toBe('1'); // batch 1 (group order: pg2, pg1, pg3)
    expect(hosts.pg3!.values.size).toBe(0); // batch 3 never started
    expect(hosts.pg1!.lock).toBe(formatRecord(other)); // theirs: not released by us
  });
});
