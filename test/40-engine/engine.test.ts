import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { runPlaybook, type RunOptions } from '../../src/engine/run.ts';
import { defineRole } from '../../src/engine/role.ts';
import { definePlay, definePlaybook, parallel, type Play } from '../../src/engine/play.ts';
import type { EngineEvent, Reporter } from '../../src/engine/events.ts';
import type { Task } from '../../src/engine/types.ts';
import { PENDING_FILE } from '../../src/engine/pending.ts';
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
}

function world(names: string[]): Record<string, FakeHostState> {
  return Object.fromEntries(names.map((n) => [n, fakeHostState()]));
}

function options(hosts: Record<string, FakeHostState>, over: Partial<RunOptions> = {}) {
  const reporter = new Collect();
  return {
    reporter,
    opts: { openTransport: (h: { name: string }) => new FakeTransport(h.name, hosts[h.name]!), gather: fakeGather, lock: false, reporter, ...over } as RunOptions,
  };
}

const app = defineRole({
  name: 'app',
  vars: z.object({ port: z.number().default(5432), name: z.string().default('main') }),
  tasks: (ctx) => [
    defineFakeOp('conf.port', String(ctx.vars.port), { notify: ['restart app'] }),
    defineFakeOp('conf.name', ctx.vars.name, { notify: ['reload app', 'restart app'] }),
    defineFakeOp('conf.extra', 'x'),
  ],
  handlers: {
    'reload app': () => [defineFakeOp('reloaded', 'yes-' + Math.random())],
    'restart app': () => [defineFakeOp('restarted', 'yes-' + Math.random())],
  },
});

const inv = memoryInventory({ db: ['pg1', 'pg2', 'pg3'], lb: ['lb1'] });

describe('engine', () => {
  it('converges, then a second run changes nothing and runs no handler', async () => {
    const hosts = world(['pg1', 'pg2', 'pg3']);
    const pb = definePlaybook('t', definePlay({ name: 'app', hosts: 'db', roles: [app] }));
    const first = options(hosts);
    const r1 = await runPlaybook(pb, inv, first.opts);
    expect(r1.ok).toBe(true);
    expect(r1.hosts.pg1!.changed).toBe(3 + 2); // three ops + two handlers
    expect(hosts.pg1!.values.get('conf.port')).toBe('5432');
    const second = options(hosts);
    const r2 = await runPlaybook(pb, inv, second.opts);
    expect(Object.values(r2.hosts).map((h) => h.changed)).toEqual([0, 0, 0]);
    expect(second.reporter.tasks().some((t) => t.handler)).toBe(false);
  });

  it('batches the probes of consecutive ops into one round trip', async () => {
    const hosts = world(['pg1']);
    hosts.pg1!.values = new Map([['conf.port', '5432'], ['conf.name', 'main'], ['conf.extra', 'x']]);
    const pb = definePlaybook('t', definePlay({ name: 'app', hosts: 'pg1', roles: [app] }));
    await runPlaybook(pb, inv, options(hosts).opts);
    // one fact/pending round trip + one batched probe
    expect(hosts.pg1!.commands.length).toBe(2);
  });

  it('runs handlers once per host, in definition order, after the tasks', async () => {
    const hosts = world(['pg1']);
    const { reporter, opts } = options(hosts);
    await runPlaybook(definePlaybook('t', definePlay({ name: 'app', hosts: 'pg1', roles: [app] })), inv, opts);
    const names = reporter.tasks('pg1').map((t) => (t.handler ? `H:${t.task}` : t.task));
    expect(names).toEqual(['set conf.port', 'set conf.name', 'set conf.extra', 'H:set reloaded', 'H:set restarted']);
  });

  it('a flush runs notified handlers early', async () => {
    const hosts = world(['pg1']);
    const role = defineRole({
      name: 'r',
      vars: z.object({}),
      tasks: () => [defineFakeOp('a', '1', { notify: ['h'] }), { kind: 'flush', name: 'flush handlers' }, defineFakeOp('b', '1')],
      handlers: { h: () => [defineFakeOp('h', String(Math.random()))] },
    });
    const { reporter, opts } = options(hosts);
    await runPlaybook(definePlaybook('t', definePlay({ name: 'p', hosts: 'pg1', roles: [role] })), inv, opts);
    expect(reporter.tasks('pg1').map((t) => t.task)).toEqual(['set a', 'set h', 'set b']);
  });

  it('a failing host leaves the play and later plays; the others go on', async () => {
    const hosts = world(['pg1', 'pg2', 'pg3']);
    hosts.pg2!.failOn = new Set(['conf.name']);
    const later = definePlay({ name: 'later', hosts: 'db', tasks: () => [defineFakeOp('later', '1')] });
    const { opts } = options(hosts);
    const r = await runPlaybook(definePlaybook('t', definePlay({ name: 'app', hosts: 'db', roles: [app] }), later), inv, opts);
    expect(r.ok).toBe(false);
    expect(r.hosts.pg2!.failed).toBe(1);
    expect(hosts.pg1!.values.get('later')).toBe('1');
    expect(hosts.pg3!.values.get('later')).toBe('1');
    expect(hosts.pg2!.values.has('later')).toBe(false);
  });

  it('an unreachable host is reported and the others go on', async () => {
    const hosts = world(['pg1', 'pg2', 'pg3']);
    hosts.pg3!.unreachable = true;
    const r = await runPlaybook(definePlaybook('t', definePlay({ name: 'app', hosts: 'db', roles: [app] })), inv, options(hosts).opts);
    expect(r.hosts.pg3!.unreachable).toBe(true);
    expect(r.hosts.pg1!.changed).toBeGreaterThan(0);
  });

  it('keeps notified handlers as pending on the host when a later task fails, and runs them next time', async () => {
    const hosts = world(['pg1']);
    hosts.pg1!.failOn = new Set(['conf.extra']);
    const pb = definePlaybook('t', definePlay({ name: 'app', hosts: 'pg1', roles: [app] }));
    const r1 = await runPlaybook(pb, inv, options(hosts).opts);
    expect(r1.hosts.pg1!.failed).toBe(1);
    expect(hosts.pg1!.values.has('restarted')).toBe(false);
    expect(JSON.parse(hosts.pg1!.files.get(PENDING_FILE)!).handlers).toEqual(['app:reload app', 'app:restart app']);
    // The config is now in place, so nothing notifies; the owed handlers still run.
    hosts.pg1!.failOn = undefined;
    const second = options(hosts);
    const r2 = await runPlaybook(pb, inv, second.opts);
    expect(r2.ok).toBe(true);
    expect(hosts.pg1!.values.has('restarted')).toBe(true);
    expect(hosts.pg1!.files.has(PENDING_FILE)).toBe(false);
  });

  it('--force-handlers runs notified handlers even after a failure', async () => {
    const hosts = world(['pg1']);
    hosts.pg1!.failOn = new Set(['conf.extra']);
    await runPlaybook(definePlaybook('t', definePlay({ name: 'app', hosts: 'pg1', roles: [app] })), inv, options(hosts, { forceHandlers: true }).opts);
    expect(hosts.pg1!.values.has('restarted')).toBe(true);
    expect(hosts.pg1!.files.has(PENDING_FILE)).toBe(false);
  });

  it('check mode reports changes and changes nothing', async () => {
    const hosts = world(['pg1']);
    const r = await runPlaybook(definePlaybook('t', definePlay({ name: 'app', hosts: 'pg1', roles: [app] })), inv, options(hosts, { check: true }).opts);
    expect(r.hosts.pg1!.changed).toBeGreaterThan(0);
    expect(hosts.pg1!.values.size).toBe(0);
    expect(hosts.pg1!.commands.some((c) => c.startsWith('set '))).toBe(false);
  });

  it('rolls out in serial batches in the given order, handlers inside each batch, gate between', async () => {
    const hosts = world(['pg1', 'pg2', 'pg3']);
    const seen: string[] = [];
    const play: Play = definePlay({
      name: 'roll',
      hosts: 'db',
      serial: 1,
      roles: [app],
      order: (vs) => [...vs].reverse(),
      gate: async ({ batch }) => {
        for (const v of batch) seen.push(`gate:${v.host.name}:${hosts[v.host.name]!.values.has('restarted')}`);
      },
    });
    const { reporter, opts } = options(hosts);
    await runPlaybook(definePlaybook('t', play), inv, opts);
    expect(seen).toEqual(['gate:pg3:true', 'gate:pg2:true', 'gate:pg1:true']);
    const batches = reporter.events.filter((e) => e.type === 'batch-start').map((e) => (e as { hosts: string[] }).hosts);
    expect(batches).toEqual([['pg3'], ['pg2'], ['pg1']]);
  });

  it('a failed gate stops the rollout before the next batch', async () => {
    const hosts = world(['pg1', 'pg2', 'pg3']);
    const play = definePlay({
      name: 'roll',
      hosts: 'db',
      serial: 1,
      roles: [app],
      gate: async ({ batch }) => {
        if (batch[0]!.host.name === 'pg1') throw new Error('lag 20 MB over the 10 MB bound on pg1');
      },
    });
    const r = await runPlaybook(definePlaybook('t', play, definePlay({ name: 'after', hosts: 'db', tasks: () => [defineFakeOp('after', '1')] })), inv, options(hosts).opts);
    expect(r.ok).toBe(false);
    expect(r.aborted).toMatch(/gate after batch 1 failed: lag 20 MB/);
    expect(hosts.pg2!.values.size).toBe(0);
    expect(hosts.pg1!.values.has('after')).toBe(false);
  });

  it('a failed host in a rolling batch stops the rollout', async () => {
    const hosts = world(['pg1', 'pg2', 'pg3']);
    hosts.pg1!.failOn = new Set(['conf.port']);
    const r = await runPlaybook(definePlaybook('t', definePlay({ name: 'roll', hosts: 'db', serial: 1, roles: [app] })), inv, options(hosts).opts);
    expect(r.aborted).toMatch(/rollout stopped after batch 1: pg1 failed/);
    expect(hosts.pg2!.values.size).toBe(0);
  });

  it('maxFailPercent and anyErrorsFatal stop the run', async () => {
    const hosts = world(['pg1', 'pg2', 'pg3']);
    hosts.pg1!.failOn = new Set(['conf.port']);
    const next = definePlay({ name: 'next', hosts: 'db', tasks: () => [defineFakeOp('n', '1')] });
    const r = await runPlaybook(definePlaybook('t', definePlay({ name: 'app', hosts: 'db', roles: [app], maxFailPercent: 20 }), next), inv, options(hosts).opts);
    expect(r.aborted).toMatch(/over maxFailPercent 20%/);
    expect(hosts.pg2!.values.has('n')).toBe(false);
    const hosts2 = world(['pg1', 'pg2', 'pg3']);
    hosts2.pg1!.failOn = new Set(['conf.port']);
    const r2 = await runPlaybook(definePlaybook('t', definePlay({ name: 'app', hosts: 'db', roles: [app], anyErrorsFatal: true }), next), inv, options(hosts2).opts);
    expect(r2.aborted).toMatch(/anyErrorsFatal/);
  });

  it('runs parallel plays at the same time', async () => {
    const hosts = world(['pg1', 'lb1']);
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    const waits: Task = { kind: 'run', name: 'wait for the other play', run: async () => (await Promise.race([released.then(() => ({ changed: false as const })), new Promise<never>((_, rej) => setTimeout(() => rej(new Error('plays ran one after the other')), 2000))])) };
    const frees: Task = { kind: 'run', name: 'free', run: async () => (release(), { changed: false as const }) };
    const r = await runPlaybook(
      definePlaybook('t', parallel(definePlay({ name: 'a', hosts: 'pg1', tasks: () => [waits] }), definePlay({ name: 'b', hosts: 'lb1', tasks: () => [frees] }))),
      inv,
      options(hosts).opts,
    );
    expect(r.ok).toBe(true);
  });

  it('runs parallel plays one after the other when they share a host (balancers on the database hosts)', async () => {
    const hosts = world(['pg1', 'pg2']);
    const order: string[] = [];
    const slow = (label: string): Task => ({ kind: 'run', name: label, run: async (ctx) => (order.push(`start ${label} ${ctx.host.name}`), await new Promise((r) => setTimeout(r, 20)), order.push(`end ${label} ${ctx.host.name}`), { changed: false as const }) });
    const r = await runPlaybook(
      definePlaybook('t', parallel(definePlay({ name: 'a', hosts: 'pg1:pg2', tasks: () => [slow('a')] }), definePlay({ name: 'b', hosts: 'pg2', tasks: () => [slow('b')] }))),
      inv,
      options(hosts).opts,
    );
    expect(r.ok).toBe(true);
    const lastA = Math.max(order.indexOf('end a pg1'), order.indexOf('end a pg2'));
    expect(order.indexOf('start b pg2')).toBeGreaterThan(lastA);
  });

  it('a barrier holds every host of the play until all reach it', async () => {
    const hosts = world(['pg1', 'pg2', 'pg3']);
    const order: string[] = [];
    const step = (label: string): Task => ({ kind: 'run', name: label, inCheckMode: 'run', run: async (ctx) => (order.push(`${label}:${ctx.host.name}`), { changed: false }) });
    const play = definePlay({
      name: 'b',
      hosts: 'db',
      tasks: (ctx) => [
        { kind: 'run', name: 'slow', run: async () => (await new Promise((r) => setTimeout(r, ctx.host.name === 'pg3' ? 50 : 0)), { changed: false }) },
        step('before'),
        { kind: 'run', name: 'barrier', run: async (c) => (await c.barrier('configured'), { changed: false }) },
        step('after'),
      ],
    });
    await runPlaybook(definePlaybook('t', play), inv, options(hosts).opts);
    const lastBefore = Math.max(...order.map((o, i) => (o.startsWith('before') ? i : -1)));
    const firstAfter = order.findIndex((o) => o.startsWith('after'));
    expect(lastBefore).toBeLessThan(firstAfter);
  });

  it('a task that may fail records a typed result and the host goes on', async () => {
    const hosts = world(['pg1']);
    hosts.pg1!.failOn = new Set(['x']);
    const { reporter, opts } = options(hosts);
    const r = await runPlaybook(definePlaybook('t', definePlay({ name: 'p', hosts: 'pg1', tasks: () => [defineFakeOp('x', '1', { mayFail: true }), defineFakeOp('y', '1')] })), inv, opts);
    expect(r.ok).toBe(true);
    const x = reporter.tasks('pg1')[0]!;
    expect(x.result).toMatchObject({ status: 'failed', ignored: true });
    expect(hosts.pg1!.values.get('y')).toBe('1');
  });

  it('a notify of an unknown handler fails the task', async () => {
    const hosts = world(['pg1']);
    const r = await runPlaybook(definePlaybook('t', definePlay({ name: 'p', hosts: 'pg1', tasks: () => [defineFakeOp('x', '1', { notify: ['nope'] })] })), inv, options(hosts).opts);
    expect(r.hosts.pg1!.failed).toBe(1);
  });

  it('--tags selects tasks (a role name is a tag) and --skip-tags removes them', async () => {
    const hosts = world(['pg1']);
    const pb = definePlaybook('t', definePlay({ name: 'p', hosts: 'pg1', roles: [app], tasks: () => [defineFakeOp('tagged', '1', { tags: ['special'] }), defineFakeOp('plain', '1')] }));
    await runPlaybook(pb, inv, options(hosts, { tags: ['special'] }).opts);
    expect([...hosts.pg1!.values.keys()]).toEqual(['tagged']);
    await runPlaybook(pb, inv, options(hosts, { skipTags: ['app'] }).opts);
    expect(hosts.pg1!.values.has('conf.port')).toBe(false);
    expect(hosts.pg1!.values.get('plain')).toBe('1');
  });

  it('refuses wrong vars before connecting to any host, naming file, host and field', async () => {
    const bad = memoryInventory({ db: ['pg1', 'pg2'] }, { pg2: { app: { port: 'five' } } });
    let opened = 0;
    const hosts = world(['pg1', 'pg2']);
    const { opts } = options(hosts);
    const err = await runPlaybook(definePlaybook('t', definePlay({ name: 'app', hosts: 'db', roles: [app] })), bad, {
      ...opts,
      openTransport: (h) => (opened++, new FakeTransport(h.name, hosts[h.name]!)),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect(String((err as Error).message)).toMatch(/memory\/host_vars\/pg2\.yml: host pg2: app\.port: .*number/);
    expect(opened).toBe(0);
  });

  it('role.with() overrides defaults and inventory vars win over it', async () => {
    const withVars = memoryInventory({ db: ['pg1', 'pg2'] }, { pg2: { app: { port: 6000 } } });
    const hosts = world(['pg1', 'pg2']);
    await runPlaybook(definePlaybook('t', definePlay({ name: 'app', hosts: 'db', roles: [app.with({ port: 7000 })] })), withVars, options(hosts).opts);
    expect(hosts.pg1!.values.get('conf.port')).toBe('7000');
    expect(hosts.pg2!.values.get('conf.port')).toBe('6000');
  });
});

describe('interrupt', () => {
  it('an aborted signal starts no further batch and the recap says why', async () => {
    const hosts = world(['pg1', 'pg2', 'pg3']);
    const ac = new AbortController();
    const play = definePlay({ name: 'roll', hosts: 'db', serial: 1, roles: [app], gate: async () => ac.abort() });
    const r = await runPlaybook(definePlaybook('t', play), inv, options(hosts, { signal: ac.signal }).opts);
    expect(r.aborted).toMatch(/interrupted/);
    expect(hosts.pg1!.values.size).toBeGreaterThan(0);
    expect(hosts.pg2!.values.size).toBe(0);
  });
});
