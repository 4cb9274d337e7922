/**
 * --list-hosts, --list-tasks and --list-tags, and the check of -t/--skip-tags: answered from
 * the plan alone, without connecting. Task lists are built with placeholder facts; a role
 * whose list depends on live state says so.
 */
import type { Inventory } from '../inventory/types.ts';
import { placeholderFacts } from '../facts/placeholder.ts';
import type { Playbook } from '../engine/play.ts';
import type { PlannedPlay } from '../engine/run.ts';
import { plays } from '../engine/run.ts';
import { createTaskContext } from '../engine/context.ts';
import type { Transport } from '../transport/types.ts';
import type { Play } from '../engine/play.ts';
import { InputError } from '../core/errors.ts';


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
      out.push(`  role ${role.name}${role.description ? ` — ${role.description}` : ''}${role.dependsOn?.length ? ` (depends on ${role.dependsOn.join(', ')})` : ''}`);
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

/** The tags of one play: its roles' names and every tag of its planned task lists. */
export interface PlayTags {
  play: Play;
  tags: Set<string>;
  /** Roles (or the play's own tasks) whose list is built from host state: their task tags are unknown offline. */
  unlisted: string[];
}

/** Builds every planned host's task lists offline and collects their tags (handlers are not selected by tags). */
export async function playTags(pb: Playbook, planned: Map<Play, PlannedPlay>, inv: Inventory): Promise<PlayTags[]> {
  const out: PlayTags[] = [];
  for (const play of plays(pb.steps)) {
    const plan = planned.get(play)!;
    const tags = new Set<string>((play.roles ?? []).map((r) => r.name));
    const unlisted = new Set<string>();
    const add = (tasks: Array<{ kind: string; tags?: string[] }>) => {
      for (const t of tasks) if (t.kind !== 'flush') for (const tag of t.tags ?? []) tags.add(tag);
    };
    for (const host of plan.hosts) {
      const base = createTaskContext({ host, facts: placeholderFacts(), inventory: inv, transport: offline, check: true });
      for (const role of play.roles ?? []) {
        try {
          add(await role.tasks({ ...base, vars: plan.vars.get(host.name)!.get(role.name) }));
        } catch {
          unlisted.add(role.name);
        }
      }
      if (play.tasks) {
        try {
          add(await play.tasks(base));
        } catch {
          unlisted.add(`play "${play.name}" tasks`);
        }
      }
    }
    out.push({ play, tags, unlisted: [...unlisted] });
  }
  return out;
}

export function listTags(tags: PlayTags[]): string {
  return tags
    .map(({ play, tags: t, unlisted }) => {
      const line = `play "${play.name}" (${play.hosts}): TAGS: [${[...t].sort().join(', ')}]`;
      return unlisted.length ? `${line}  (task lists built from host state, their own tags not shown: ${unlisted.join(', ')})` : line;
    })
    .join('\n');
}

/** -t and --skip-tags must name tags the planned tasks carry: a typo would silently select nothing. */
export function checkTags(requested: { tags: string[]; skipTags: string[] }, tags: PlayTags[]): void {
  const known = new Set(tags.flatMap((p) => [...p.tags]));
  const unlisted = [...new Set(tags.flatMap((p) => p.unlisted))];
  const problems: string[] = [];
  for (const [flag, names] of [['-t/--tags', requested.tags], ['--skip-tags', requested.skipTags]] as const) {
    const unknown = names.filter((t) => !known.has(t));
    if (unknown.length === 0) continue;
    problems.push(
      `${flag}: unknown tag${unknown.length > 1 ? 's' : ''} ${unknown.map((t) => JSON.stringify(t)).join(', ')}; ` +
        `known tags: ${known.size ? [...known].sort().join(', ') : '(none)'}` +
        (unlisted.length ? ` (the task lists of ${unlisted.join(', ')} are built from host state: their own tags cannot be known without connecting)` : ''),
    );
  }
  if (problems.length) throw new InputError(problems);
}
