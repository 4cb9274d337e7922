import { describe, expect, it } from 'vitest';
import { planPlaybook, runPlaybook, type RunOptions } from '../../src/engine/run.ts';
import { definePlay, definePlaybook, type Play } from '../../src/engine/play.ts';
import type { EngineEvent, Reporter } from '../../src/engine/events.ts';
import { TaskError, type Delegate, type Task, type TaskContext } from '../../src/engine/types.ts';
import type { ExecOptions, ExecResult } from '../../src/transport/types.ts';
import { TransportError } from '../../src/transport/types.ts';
import { InputError } from '../../src/core/errors.ts';
import { FakeTransport, fakeGather, fakeHostState, defineFakeOp, type FakeHostState } from '../support/fake-transport.ts';
import { memoryInventory } from '../support/inventory.ts';

class Collect implements Reporter {
  events: EngineEvent[] = [];
  event(e: EngineEvent) {
    this.events.push(e);
  }
  async close() {}
  tasks(host?: string) {
    return this.events.filter((e): e is Extract<EngineEvent, { type: 'task' }> => e.type === 'task' && (!host || e.host === host));
  }
  of<T extends EngineEvent['type']>(type: T) {
    return this.events.filter((e): e is Extract<EngineEvent, { type: T }> => e.type === type);
  }
}

/** A fake whose connection drops on the command `drop` (after connecting and gathering fine). */
class DroppingTransport extends FakeTransport {
  override async exec(script: string, opts?: ExecOptions): Promise<ExecResult> {
    if (script === 'drop') throw new TransportError('closed', this.host, 'connection reset by peer (fake)');
    return super.exec(script, opts);
  }
}

const inv = memoryInventory({ postgres: ['pg1', 'pg2', 'pg3', 'pg4'], balancers: ['lb1', 'lb2'], backup: ['bk1'] });
const ALL = ['pg1', 'pg2', 'pg3', 'pg4', 'lb1', 'lb2', 'bk1'];

function world(names: string[] = ALL): Record<string, FakeHostState> {
  return Object.fromEntries(names.map((n) => [n, fakeHostState()]));
}

/** Run options over fake hosts, counting transports opened and connects made per host. */
function options(hosts: Record<string, FakeHostState>, over: Partial<RunOptions> = {}) {
  const reporter = new Collect();
  const opened: Record<string, number> = {};
  const connects: Record<string, number> = {};
  const openTransport = (h: { name: string }) => {
    opened[h.name] = (opened[h.name] ?? 0) + 1;
    const state = hosts[h.name];
    if (!state) throw new Error(`test: no fake host ${h.name}`);
    const t = h.name.startsWith('drop-') ? new DroppingTransport(h.name, state) : new FakeTransport(h.name, state);
    const connect = t.connect.bind(t);
    t.connect = async () => {
      connects[h.name] = (connects[h.name] ?? 0) + 1;
      return connect();
    };
    return t;
  };
  return { reporter, opened, connects, opts: { openTransport, gather: fakeGather, lock: false, reporter, ...over } as RunOptions };
}

function runTask(name: string, run: (ctx: TaskContext) => Promise<{ changed: false; message?: string } | { changed: true; summary: string }>): Task {
  return { kind: 'run', name, run };
}

/** Commands a host saw other than the engine's first (gather) round trip. */
const userCommands = (s: FakeHostState) => s.commands.filter((c) => !c.includes('pending-handlers'));

describe('delegate', () => {
  it('a task on pg1 runs a command on lb1 (in no play) and gets its result back', async () => {
    const hosts = world();
    hosts.lb1!.values.set('backends', 'pg1,pg2');
    let seen: Delegate | undefined;
    const play = definePlay({
      name: 'drain',
      hosts: 'pg1',
      tasks: () => [
        runTask('drain from lb1', async (ctx) => {
          const lb = await ctx.delegate('lb1');
          seen = lb;
          const before = await lb.exec('get backends');
          await lb.exec('set backends pg2');
          return { changed: false, message: `was ${before.stdout}` };
        }),
      ],
    });
    const { reporter, opts, opened } = options(hosts);
    const r = await runPlaybook(definePlaybook('t', play), inv, opts);
    expect(r.ok).toBe(true);
    // The scripts arrived on lb1, not on pg1.
    expect(userCommands(hosts.lb1!)).toEqual(['get backends', 'set backends pg2']);
    expect(hosts.lb1!.values.get('backends')).toBe('pg2');
    expect(userCommands(hosts.pg1!)).toEqual([]);
    // The result came back to the task on pg1.
    expect(reporter.tasks('pg1')[0]!.result).toEqual({ status: 'ok', message: 'was pg1,pg2' });
    // The delegate is lb1, with lb1's own facts.
    expect(seen!.host.name).toBe('lb1');
    expect(seen!.facts.hostname).toBe('lb1');
    expect(opened).toEqual({ pg1: 1, lb1: 1 });
  });

  it('delegating to a host already in an earlier play reuses its connection', async () => {
    const hosts = world();
    const lbPlay = definePlay({ name: 'lb', hosts: 'lb1', tasks: () => [defineFakeOp('haproxy', 'v2')] });
    const dbPlay = definePlay({
      name: 'db',
      hosts: 'postgres',
      tasks: () => [
        runTask('read lb1', async (ctx) => {
          const r = await (await ctx.delegate('lb1')).exec('get haproxy');
          return { changed: false, message: r.stdout };
        }),
      ],
    });
    const { reporter, opts, opened, connects } = options(hosts);
    const r = await runPlaybook(definePlaybook('t', lbPlay, dbPlay), inv, opts);
    expect(r.ok).toBe(true);
    expect(opened.lb1).toBe(1);
    expect(connects.lb1).toBe(1);
    // One gather round trip on lb1: facts were not fetched again for the delegation.
    expect(hosts.lb1!.commands.filter((c) => c.includes('pending-handlers')).length).toBe(1);
    for (const pg of ['pg1', 'pg2', 'pg3', 'pg4']) expect(reporter.tasks(pg)[0]!.result).toEqual({ status: 'ok', message: 'v2' });
  });

  it('many hosts delegating at once, then a play on the delegate, share one connection', async () => {
    const hosts = world();
    const dbPlay = definePlay({
      name: 'db',
      hosts: 'postgres',
      tasks: (ctx) => [runTask('mark on lb1', async (c) => (await (await c.delegate('lb1')).exec(`set seen.${ctx.host.name} 1`), { changed: true, summary: 'marked' }))],
    });
    const lbPlay = definePlay({ name: 'lb', hosts: 'balancers', tasks: () => [defineFakeOp('reloaded', 'yes')] });
    const { opts, opened, connects } = options(hosts);
    const r = await runPlaybook(definePlaybook('t', dbPlay, lbPlay), inv, opts);
    expect(r.ok).toBe(true);
    expect([...hosts.lb1!.values.keys()].sort()).toEqual(['reloaded', 'seen.pg1', 'seen.pg2', 'seen.pg3', 'seen.pg4']);
    expect(opened.lb1).toBe(1);
    expect(connects.lb1).toBe(1);
    expect(Object.values(opened).every((n) => n === 1)).toBe(true);
    expect(r.hosts.lb1!.changed).toBe(1);
  });

  it('an unknown host fails the task, naming the host; the delegating host is failed, not unreachable', async () => {
    const hosts = world();
    const play = definePlay({
      name: 'p',
      hosts: 'pg1:pg2',
      tasks: (ctx) => [
        runTask('delegate', async (c) => {
          if (ctx.host.name === 'pg1') await c.delegate('lb9');
          return { changed: false };
        }),
        defineFakeOp('after', '1'),
      ],
    });
    const { reporter, opts, opened } = options(hosts);
    const r = await runPlaybook(definePlaybook('t', play), inv, opts);
    expect(r.ok).toBe(false);
    const t = reporter.tasks('pg1')[0]!;
    expect(t.result).toMatchObject({ status: 'failed', ignored: false });
    expect(t.result.status === 'failed' && t.result.error).toBe('cannot delegate to lb9: no such host in memory');
    expect(r.hosts.pg1).toMatchObject({ failed: 1, unreachable: false });
    expect(reporter.of('host-failed').map((e) => e.host)).toEqual(['pg1']);
    expect(reporter.of('unreachable')).toEqual([]);
    expect(hosts.pg1!.values.has('after')).toBe(false);
    // The other host goes on.
    expect(hosts.pg2!.values.get('after')).toBe('1');
    expect(opened.lb9).toBeUndefined();
  });

  it('an unreachable delegate fails the task with "cannot reach"; the delegating host is not unreachable', async () => {
    const hosts = world();
    hosts.lb1!.unreachable = true;
    const db = definePlay({
      name: 'db',
      hosts: 'pg1',
      tasks: () => [runTask('drain', async (c) => (await (await c.delegate('lb1')).exec('set x 1'), { changed: true, summary: 'drained' }))],
    });
    const later = definePlay({ name: 'later', hosts: 'lb1', tasks: () => [defineFakeOp('y', '1')] });
    const { reporter, opts } = options(hosts);
    const r = await runPlaybook(definePlaybook('t', db, later), inv, opts);
    expect(r.ok).toBe(false);
    const t = reporter.tasks('pg1')[0]!;
    expect(t.result.status).toBe('failed');
    expect(t.result.status === 'failed' && t.result.error).toMatch(/^cannot reach lb1: .*ECONNREFUSED/);
    expect(r.hosts.pg1).toMatchObject({ failed: 1, unreachable: false });
    expect(reporter.of('unreachable').map((e) => e.host)).toEqual(['lb1']);
    // lb1 itself, when its own play comes, is unreachable (the failed connection is not retried).
    expect(r.hosts.lb1!.unreachable).toBe(true);
    expect(hosts.lb1!.commands).toEqual([]);
  });

  it('a delegate that may fail is a typed failure and the host goes on', async () => {
    const hosts = world();
    hosts.lb1!.unreachable = true;
    const play = definePlay({
      name: 'db',
      hosts: 'pg1',
      tasks: () => [
        { kind: 'run', name: 'drain', mayFail: true, run: async (c) => (await c.delegate('lb1'), { changed: false }) },
        defineFakeOp('after', '1'),
      ],
    });
    const { reporter, opts } = options(hosts);
    const r = await runPlaybook(definePlaybook('t', play), inv, opts);
    expect(r.ok).toBe(true);
    expect(reporter.tasks('pg1')[0]!.result).toMatchObject({ status: 'failed', ignored: true });
    expect(hosts.pg1!.values.get('after')).toBe('1');
  });

  it('a lost connection during a delegated exec is a TaskError naming the peer; the delegating host is failed, not unreachable', async () => {
    const inv2 = memoryInventory({ postgres: ['pg1', 'pg2'], balancers: ['drop-lb'] });
    const hosts = world(['pg1', 'pg2', 'drop-lb']);
    let caught: unknown;
    const play = definePlay({
      name: 'db',
      hosts: 'postgres',
      // pg2 asks the peer while building its task list (outside any task), pg1 inside a task.
      tasks: async (ctx) => {
        if (ctx.host.name === 'pg2') await (await ctx.delegate('drop-lb')).exec('drop');
        return [
          runTask('drain', async (c) => {
            try {
              await (await c.delegate('drop-lb')).exec('drop');
            } catch (e) {
              caught = e;
              throw e;
            }
            return { changed: false };
          }),
          defineFakeOp('after', '1'),
        ];
      },
    });
    const { reporter, opts } = options(hosts);
    const r = await runPlaybook(definePlaybook('t', play), inv2, opts);
    expect(caught).toBeInstanceOf(TaskError);
    expect(caught).not.toBeInstanceOf(TransportError);
    expect((caught as Error).message).toMatch(/^drop-lb: .*connection reset by peer/);
    const t = reporter.tasks('pg1')[0]!;
    expect(t.result.status === 'failed' && t.result.error).toMatch(/^drop-lb: .*connection reset by peer/);
    expect(r.hosts.pg1).toMatchObject({ failed: 1, unreachable: false });
    expect(r.hosts.pg2).toMatchObject({ failed: 1, unreachable: false });
    expect(reporter.of('host-failed').find((e) => e.host === 'pg2')!.error).toMatch(/^drop-lb: .*connection reset by peer/);
    expect(reporter.of('unreachable')).toEqual([]);
    expect(hosts.pg1!.values.has('after')).toBe(false);
  });

  it('an unreachable delegate asked while building the task list fails the host, not marks it unreachable', async () => {
    const hosts = world();
    hosts.lb1!.unreachable = true;
    const play = definePlay({
      name: 'db',
      hosts: 'pg1',
      tasks: async (ctx) => (await ctx.delegate('lb1'), [defineFakeOp('after', '1')]),
    });
    const { reporter, opts } = options(hosts);
    const r = await runPlaybook(definePlaybook('t', play), inv, opts);
    expect(r.hosts.pg1).toMatchObject({ failed: 1, unreachable: false });
    expect(reporter.of('host-failed')[0]!.error).toMatch(/^cannot reach lb1: /);
    expect(reporter.of('unreachable')).toEqual([]);
    expect(hosts.pg1!.values.has('after')).toBe(false);
  });

  it('a gate can delegate to a host outside the play', async () => {
    const hosts = world();
    hosts.lb1!.values.set('pool', 'healthy');
    const seen: string[] = [];
    const play = definePlay({
      name: 'roll',
      hosts: 'postgres',
      serial: 2,
      tasks: () => [defineFakeOp('v', '2')],
      gate: async (ctx) => {
        const lb = await ctx.delegate('lb1');
        const r = await lb.exec('get pool');
        seen.push(`${ctx.batch.map((v) => v.host.name).join('+')}:${lb.host.name}:${r.stdout}`);
      },
    });
    const { reporter, opts, opened } = options(hosts);
    const r = await runPlaybook(definePlaybook('t', play), inv, opts);
    expect(r.ok).toBe(true);
    expect(seen).toEqual(['pg1+pg2:lb1:healthy', 'pg3+pg4:lb1:healthy']);
    expect(userCommands(hosts.lb1!)).toEqual(['get pool', 'get pool']);
    expect(opened.lb1).toBe(1);
    expect(reporter.of('gate').map((g) => g.ok)).toEqual([true, true]);
  });

  it('a gate whose delegate is unreachable stops the rollout, naming the delegate', async () => {
    const hosts = world();
    hosts.lb1!.unreachable = true;
    const play = definePlay({
      name: 'roll',
      hosts: 'postgres',
      serial: 1,
      tasks: () => [defineFakeOp('v', '2')],
      gate: async (ctx) => void (await ctx.delegate('lb1')),
    });
    const { opts } = options(hosts);
    const r = await runPlaybook(definePlaybook('t', play), inv, opts);
    expect(r.aborted).toMatch(/gate after batch 1 failed: cannot reach lb1/);
    expect(hosts.pg1!.values.get('v')).toBe('2');
    expect(hosts.pg2!.values.size).toBe(0);
    expect(r.hosts.pg1!.unreachable).toBe(false);
  });
});

describe('beyondLimit', () => {
  const names = (play: Play, limit?: string) =>
    planPlaybook(definePlaybook('t', play), inv, limit)
      .get(play)!
      .hosts.map((h) => h.name);

  it('without beyondLimit, --limit pg4 leaves only pg4', () => {
    expect(names(definePlay({ name: 'db', hosts: 'postgres' }), 'pg4')).toEqual(['pg4']);
    expect(names(definePlay({ name: 'lb', hosts: 'balancers' }), 'pg4')).toEqual([]);
  });

  it('hosts of the pattern matching beyondLimit join despite the limit', () => {
    expect(names(definePlay({ name: 'p', hosts: 'postgres:balancers', beyondLimit: 'balancers' }), 'pg4')).toEqual(['pg4', 'lb1', 'lb2']);
    expect(names(definePlay({ name: 'p', hosts: 'balancers', beyondLimit: 'lb2' }), 'pg4')).toEqual(['lb2']);
  });

  it("beyondLimit 'all' takes every host of the play's pattern, and no other", () => {
    expect(names(definePlay({ name: 'p', hosts: 'postgres:balancers', beyondLimit: 'all' }), 'pg4')).toEqual(['pg1', 'pg2', 'pg3', 'pg4', 'lb1', 'lb2']);
    expect(names(definePlay({ name: 'p', hosts: 'all:!backup', beyondLimit: 'all' }), 'lb1')).toEqual(['pg1', 'pg2', 'pg3', 'pg4', 'lb1', 'lb2']);
  });

  it('beyondLimit never adds hosts outside the play pattern', () => {
    expect(names(definePlay({ name: 'p', hosts: 'postgres', beyondLimit: 'balancers' }), 'pg4')).toEqual(['pg4']);
    expect(names(definePlay({ name: 'p', hosts: 'postgres', beyondLimit: 'backup' }), 'lb1')).toEqual([]);
  });

  it('without a limit, beyondLimit adds nothing', () => {
    expect(names(definePlay({ name: 'p', hosts: 'postgres', beyondLimit: 'all' }))).toEqual(['pg1', 'pg2', 'pg3', 'pg4']);
    expect(names(definePlay({ name: 'p', hosts: 'postgres', beyondLimit: 'balancers' }))).toEqual(['pg1', 'pg2', 'pg3', 'pg4']);
    expect(names(definePlay({ name: 'p', hosts: 'balancers', beyondLimit: 'lb1' }))).toEqual(['lb1', 'lb2']);
  });

  it('an unknown beyondLimit pattern is an input error naming the play', () => {
    const play = definePlay({ name: 'reload lbs', hosts: 'balancers', beyondLimit: 'balancer' });
    let err: unknown;
    try {
      planPlaybook(definePlaybook('t', play), inv, 'pg4');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toMatch(/play "reload lbs": .*"balancer"/);
  });

  it('a limited run reaches the beyondLimit hosts and no others', async () => {
    const hosts = world();
    const enroll = definePlay({ name: 'enroll', hosts: 'postgres', tasks: () => [defineFakeOp('member', 'yes')] });
    const reload = definePlay({ name: 'reload', hosts: 'balancers', beyondLimit: 'balancers', tasks: () => [defineFakeOp('reloaded', 'yes')] });
    const { opts, opened } = options(hosts, { limit: 'pg4' });
    const r = await runPlaybook(definePlaybook('t', enroll, reload), inv, opts);
    expect(r.ok).toBe(true);
    expect(Object.keys(r.hosts).sort()).toEqual(['lb1', 'lb2', 'pg4']);
    expect(hosts.pg4!.values.get('member')).toBe('yes');
    expect(hosts.lb1!.values.get('reloaded')).toBe('yes');
    expect(hosts.lb2!.values.get('reloaded')).toBe('yes');
    expect(hosts.pg1!.values.size).toBe(0);
    expect(Object.keys(opened).sort()).toEqual(['lb1', 'lb2', 'pg4']);
  });
});
