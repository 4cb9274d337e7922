/**
 * A playbook whose --limit names departing hosts (remove.ts): it plans and runs on the other
 * hosts against the inventory without them, reaches them only by delegation, and the
 * membership record forgets them.
 */
import { describe, expect, it } from 'vitest';
import { planPlaybook, runPlaybook, type RunOptions } from '../../src/engine/run.ts';
import { definePlay, definePlaybook } from '../../src/engine/play.ts';
import type { EngineEvent, Reporter } from '../../src/engine/events.ts';
import type { Task, TaskContext } from '../../src/engine/types.ts';
import { InputError } from '../../src/core/errors.ts';
import { runScope, withoutHosts } from '../../src/engine/departing.ts';
import { membersToWrite } from '../../src/engine/membership.ts';
import { departingHosts, hostNamesOf, hostsOf } from '../../src/toolkit/index.ts';
import { FakeTransport, fakeGather, fakeHostState, type FakeHostState } from '../support/fake-transport.ts';
import { memoryInventory } from '../support/inventory.ts';

const inv = memoryInventory({ postgres: ['pg1', 'pg2', 'pg3'], etcd: ['pg1', 'pg2', 'pg3'], balancers: ['lb1'] });

class Collect implements Reporter {
  events: EngineEvent[] = [];
  event(e: EngineEvent) {
    this.events.push(e);
  }
  async close() {}
}

describe('departing hosts (remove.ts -l HOST)', () => {
  it('withoutHosts: gone from hosts and every group (all included), kept in departing', () => {
    const v = withoutHosts(inv, new Set(['pg3']));
    expect([...v.hosts.keys()]).toEqual(['pg1', 'pg2', 'lb1']);
    expect(hostNamesOf(v, 'postgres')).toEqual(['pg1', 'pg2']);
    expect(hostNamesOf(v, 'etcd')).toEqual(['pg1', 'pg2']);
    expect(hostNamesOf(v, 'all')).toEqual(['pg1', 'pg2', 'lb1']);
    expect(hostsOf(v, 'postgres').map((h) => h.name)).toEqual(['pg1', 'pg2']);
    expect(departingHosts(v).map((h) => h.name)).toEqual(['pg3']);
    // The loaded inventory is untouched.
    expect(hostNamesOf(inv, 'postgres')).toEqual(['pg1', 'pg2', 'pg3']);
    expect(departingHosts(inv)).toEqual([]);
  });

  it('runScope: the limit names the departing hosts; no limit, one matching nothing, or every host is refused', () => {
    const pb = definePlaybook({ name: 'remove', departing: 'limit' }, definePlay({ name: 'p', hosts: 'postgres' }));
    const s = runScope(pb, inv, 'pg3');
    expect(s.limit).toBeUndefined();
    expect(departingHosts(s.inv).map((h) => h.name)).toEqual(['pg3']);
    expect(() => runScope(pb, inv, undefined)).toThrow(InputError);
    expect(() => runScope(pb, inv, 'nohost*')).toThrow(/matches/);
    expect(() => runScope(pb, inv, 'all')).toThrow(/nothing would be left/);
    // An ordinary playbook keeps its limit.
    const site = definePlaybook('site', definePlay({ name: 'p', hosts: 'postgres' }));
    expect(runScope(site, inv, 'pg3')).toEqual({ inv, limit: 'pg3' });
  });

  it('plans every play on the other hosts; a task reaches the departing host only by delegation', async () => {
    const seen: string[] = [];
    const probe: Task = {
      kind: 'run',
      name: 'look',
      async run(ctx: TaskContext) {
        seen.push(`${ctx.host.name}:${hostNamesOf(ctx.inventory, 'postgres').join(',')}`);
        if (ctx.host.name === 'pg1') {
          const d = await ctx.delegate('pg3');
          await d.exec('echo hi');
          seen.push(`delegate ${d.host.name}`);
        }
        return { changed: false };
      },
    };
    const pb = definePlaybook({ name: 'remove', departing: 'limit' }, definePlay({ name: 'p', hosts: 'all', tasks: () => [probe] }));
    const planned = planPlaybook(pb, inv, 'pg3');
    expect([...planned.values()][0]!.hosts.map((h) => h.name)).toEqual(['pg1', 'pg2', 'lb1']);
    const hosts: Record<string, FakeHostState> = Object.fromEntries(['pg1', 'pg2', 'pg3', 'lb1'].map((n) => [n, fakeHostState()]));
    const reporter = new Collect();
    const opts = { openTransport: (h: { name: string }) => new FakeTransport(h.name, hosts[h.name]!), gather: fakeGather, lock: false, reporter, limit: 'pg3' } as RunOptions;
    const recap = await runPlaybook(pb, inv, opts, planned);
    expect(recap.ok).toBe(true);
    expect(Object.keys(recap.hosts).sort()).toEqual(['lb1', 'pg1', 'pg2']);
    expect(seen.sort()).toEqual(['delegate pg3', 'lb1:pg1,pg2', 'pg1:pg1,pg2', 'pg2:pg1,pg2']);
  });

  it('the membership record forgets departing hosts', () => {
    const reached = [
      { host: { name: 'pg1' }, members: ['pg1', 'pg2', 'pg3'] },
      { host: { name: 'pg2' }, members: ['pg1', 'pg2', 'pg3'] },
    ];
    const { hosts, body } = membersToWrite(reached, new Set(['pg3']));
    expect(hosts.map((h) => h.host.name)).toEqual(['pg1', 'pg2']);
    expect(JSON.parse(body).hosts).toEqual(['pg1', 'pg2']);
    expect(membersToWrite(reached).hosts).toEqual([]);
  });
});
