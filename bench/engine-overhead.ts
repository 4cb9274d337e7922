/**
 * (a) Engine overhead alone: 500 hosts x 50 ops, nothing to change, on the in-memory fake
 * transport (no network): planning, batching, plan/compare and reporting costs only.
 */
import { z } from 'zod';
import { runPlaybook } from '../src/engine/run.ts';
import { defineRole } from '../src/engine/role.ts';
import { definePlay, definePlaybook } from '../src/engine/play.ts';
import type { Reporter } from '../src/engine/events.ts';
import { FakeTransport, fakeGather, fakeHostState, defineFakeOp } from '../test/support/fake-transport.ts';
import { memoryInventory } from '../test/support/inventory.ts';

export async function engineOverhead(hostCount = 500, opCount = 50): Promise<{ ms: number; perHostOpUs: number; execsPerHost: number; heapMb: number }> {
  const names = Array.from({ length: hostCount }, (_, i) => `h${i + 1}`);
  const init = Object.fromEntries(Array.from({ length: opCount }, (_, i) => [`k${i}`, 'v']));
  const states = new Map(names.map((n) => [n, fakeHostState(init)]));
  const role = defineRole({
    name: 'bench',
    vars: z.object({}),
    tasks: () => Array.from({ length: opCount }, (_, i) => defineFakeOp(`k${i}`, 'v')),
  });
  const inv = memoryInventory({ all_hosts: names });
  const pb = definePlaybook('bench', definePlay({ name: 'bench', hosts: 'all_hosts', roles: [role] }));
  const quiet: Reporter = { event: () => {}, close: async () => {} };
  const t0 = performance.now();
  const recap = await runPlaybook(pb, inv, {
    openTransport: (h) => new FakeTransport(h.name, states.get(h.name)!),
    gather: fakeGather,
    lock: false, // the fake transport speaks no shell
    reporter: quiet,
    forks: 50,
  });
  const ms = performance.now() - t0;
  const changed = Object.values(recap.hosts).reduce((a, h) => a + h.changed, 0);
  if (changed !== 0) throw new Error(`benchmark expected a no-op run, saw changed=${changed}`);
  const execs = [...states.values()].reduce((a, s) => a + s.commands.length, 0) / hostCount;
  return { ms, perHostOpUs: (ms * 1000) / (hostCount * opCount), execsPerHost: execs, heapMb: process.memoryUsage().heapUsed / 2 ** 20 };
}
