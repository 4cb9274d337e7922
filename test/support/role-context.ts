/**
 * A fake host context for unit tests of a role's task list: a small lab-shaped inventory,
 * facts of a VM or a container, an exec that records scripts. The lab tests are the real proof.
 */
import type { RoleContext } from '../../src/engine/role.ts';
import type { Facts } from '../../src/facts/types.ts';
import { placeholderFacts } from '../../src/facts/placeholder.ts';
import type { ExecResult } from '../../src/transport/types.ts';
import { memoryInventory } from './inventory.ts';
import { RunState } from '../../src/engine/run-state.ts';
import { Secret } from '../../src/core/secret.ts';

// Members carry the patroni role's secrets, as an inventory gives them: other roles read a member's patroni vars through its schema.
const memberVars = {
  patroni: {
    restapi: { password: new Secret('api-Secret-1') },
    authentication: { superuser: { password: new Secret('s-1') }, replication: { password: new Secret('r-1') }, rewind: { password: new Secret('w-1') } },
  },
};
export const inventory = memoryInventory({ postgres: ['pg1', 'pg2'], balancers: ['lb1', 'lb2'], backup: ['backup1'] }, { pg1: memberVars, pg2: memberVars });

export function facts(container: boolean): Facts {
  return placeholderFacts({
    hostname: 'h',
    fqdn: 'h',
    virtualization: container ? { type: 'systemd-nspawn', container: true } : { type: 'kvm', container: false },
    defaultIpv4: { interface: 'eth0', address: '10.213.7.5', gateway: '10.213.7.1' },
  });
}

export function ctxFor<V>(host: string, vars: V, opts: { container?: boolean; exec?: (s: string) => ExecResult; hostVars?: Record<string, unknown> } = {}) {
  const warnings: string[] = [];
  const scripts: string[] = [];
  const h = inventory.hosts.get(host)!;
  const ctx: RoleContext<V> = {
    host: { ...h, vars: opts.hostVars ?? h.vars },
    facts: facts(opts.container ?? false),
    inventory,
    check: false,
    diff: false,
    exec: async (s) => (scripts.push(s), opts.exec ? opts.exec(s) : { code: 0, stdout: '', stderr: '' }),
    run: async (s) => (scripts.push(s), ''),
    log: () => {},
    warn: (m) => warnings.push(m),
    shared: new RunState(),
    barrier: async () => {},
    delegate: async (name) => {
      throw new Error(`no delegation in the fake role context (asked for ${name})`);
    },
    vars,
  };
  return { ctx, warnings, scripts };
}
