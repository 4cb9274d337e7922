/**
 * --list-hosts and --list-tasks: answered from the plan alone, without connecting. Task lists
 * are built with placeholder facts; a role whose list depends on live state says so.
 */
import type { Inventory } from '../inventory/types.ts';
import { placeholderFacts } from '../facts/placeholder.ts';
import type { Playbook } from '../engine/play.ts';
import type { PlannedPlay } from '../engine/run.ts';
import { plays } from '../engine/run.ts';
import { createTaskContext } from '../engine/context.ts';
import type { Transport } from '../transport/types.ts';
import type { Play } from '../engine/play.ts';


const offline: Transport = {
  host: 'offline',
  stats: { execs: 0, bytesIn: 0, bytesOut: 0 },
  connect: async () => {},
  close: async () => {},
  exec: async () => {
    throw new Error('not connected (listing only)');
  },
};

export function listHosts(pb: Playbook, planned: Map<Play, PlannedPlay>): string {
  return plays(pb.steps)
    .map((p) => `play "${p.name}" (${p.hosts}): ${planned.get(p)!.hosts.map((h) => h.name).join(', ') || '(none)'}`)
    .join('\n');
}

export async function listTasks(pb: Playbook, planned: Map<Play, PlannedPlay>, inv: Inventory): Promise<string> {
  const out: string[] = [];
  for (const play of plays(pb.steps)) {
    const plan = planned.get(play)!;
    out.push(`play "${play.name}" (${play.hosts})${play.serial !== undefined ? ` serial=${play.serial}` : ''}`);
    const host = plan.hosts[0];
    if (!host) {
      out.push('  (no hosts)');
      continue;
    }
    const base = createTaskContext({ host, facts: placeholderFacts(), inventory: inv, transport: offline, check: true });
    for (const role of play.roles ?? []) {
      out.push(`  role ${role.name}${role.description ? ` — ${role.description}` : ''}`);
      try {
        const tasks = await role.tasks({ ...base, vars: plan.vars.get(host.name)!.get(role.name) });
        for (const t of tasks) out.push(`    ${t.name}${t.kind !== 'flush' && t.tags?.length ? `  [${t.tags.join(',')}]` : ''}`);
      } catch {
        out.push('    (task list is built from host state)');
      }
      const handlers = Object.keys(role.handlers ?? {});
      if (handlers.length) out.push(`    handlers: ${handlers.join(', ')}`);
    }
  }
  return out.join('\n');
}
