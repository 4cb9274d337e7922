/** argv -> typed options for each command. Unknown flags are input errors (exit 1). */
import { parseArgs } from 'node:util';
import { InputError } from '../core/errors.ts';

export const USAGE = `rigger — typed, agentless orchestration for PostgreSQL HA clusters

Usage:
  rigger run PLAYBOOK.ts -i INVENTORY [options]
  rigger facts -i INVENTORY [-l PATTERN] [--json]
  rigger inventory -i INVENTORY [-l PATTERN] [--json]

Options (run):
  -i, --inventory PATH        inventory file or directory (ours, TypeScript, or Ansible INI/YAML)
  -l, --limit PATTERN         only these hosts (group pattern: a:b union, a:&b and, a:!b not)
  -C, --check                 change nothing; report what would change
  -D, --diff                  show file diffs for changes (secrets masked)
  -e, --extra-vars KEY=VALUE  a var over the inventory's, for every host (repeatable; -e rollout.candidate=pg3)
  -t, --tags a,b              only tasks with these tags (a role's name is one of its tags)
      --skip-tags a,b         skip tasks with these tags
  -f, --forks N               remote commands in flight at once (default 25)
      --force-handlers        run notified handlers even when a later task failed
      --json                  print one JSON recap object on stdout (progress goes to stderr)
      --events FILE           write every event as a JSON line to FILE
      --list-hosts            print the hosts of each play and exit (no connection)
      --list-tasks            print the tasks of each play and exit (no connection)
      --list-tags             print the tags of each play and exit (no connection)
  -v, --verbose               also print ok and skipped tasks
Host keys:
      --known-hosts FILE      check host keys against FILE (default: the inventory's, else ~/.ssh/known_hosts)
      --accept-new-host-keys  record unknown host keys (a changed key is still refused)
      --insecure-no-host-key-check   DANGEROUS: do not verify host keys at all
`;

export interface CommonOptions {
  inventory: string;
  limit?: string;
  json: boolean;
  knownHosts?: string;
  acceptNewHostKeys: boolean;
  insecureSkipHostKeyCheck: boolean;
}

export interface RunArgs extends CommonOptions {
  command: 'run';
  playbook: string;
  /** -e KEY=VALUE, in order (later ones win). */
  extraVars: string[];
  check: boolean;
  diff: boolean;
  tags: string[];
  skipTags: string[];
  forks: number;
  forceHandlers: boolean;
  events?: string;
  listHosts: boolean;
  listTasks: boolean;
  listTags: boolean;
  verbose: boolean;
}

export type CliArgs =
  | RunArgs
  | ({ command: 'facts' } & CommonOptions)
  | ({ command: 'inventory' } & CommonOptions)
  | { command: 'help' };

const list = (v: string | undefined): string[] => (v ? v.split(',').map((s) => s.trim()).filter(Boolean) : []);

export function parseCli(argv: string[]): CliArgs {
  const [command, ...rest] = argv;
  if (!command || command === 'help' || command === '--help' || command === '-h') return { command: 'help' };
  if (command !== 'run' && command !== 'facts' && command !== 'inventory')
    throw new InputError([`unknown command "${command}" (expected run, facts or inventory)`]);
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      strict: true,
      options: {
        inventory: { type: 'string', short: 'i' },
        limit: { type: 'string', short: 'l' },
        check: { type: 'boolean', short: 'C', default: false },
        'extra-vars': { type: 'string', short: 'e', multiple: true },
        diff: { type: 'boolean', short: 'D', default: false },
        tags: { type: 'string', short: 't' },
        'skip-tags': { type: 'string' },
        forks: { type: 'string', short: 'f' },
        'force-handlers': { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        events: { type: 'string' },
        'list-hosts': { type: 'boolean', default: false },
        'list-tasks': { type: 'boolean', default: false },
        'list-tags': { type: 'boolean', default: false },
        verbose: { type: 'boolean', short: 'v', default: false },
        'known-hosts': { type: 'string' },
        'accept-new-host-keys': { type: 'boolean', default: false },
        'insecure-no-host-key-check': { type: 'boolean', default: false },
      },
    });
  } catch (e) {
    throw new InputError([e instanceof Error ? e.message : String(e)]);
  }
  const v = parsed.values;
  if (!v.inventory) throw new InputError(['missing -i/--inventory PATH']);
  if (v.limit !== undefined && v.limit.trim() === '')
    throw new InputError([`-l/--limit ${JSON.stringify(v.limit)}: an empty limit would select every host; give a host or group pattern, or leave -l out`]);
  const common: CommonOptions = {
    inventory: v.inventory,
    json: v.json,
    acceptNewHostKeys: v['accept-new-host-keys'],
    insecureSkipHostKeyCheck: v['insecure-no-host-key-check'],
    ...(v.limit !== undefined ? { limit: v.limit } : {}),
    ...(v['known-hosts'] ? { knownHosts: v['known-hosts'] } : {}),
  };
  if (command !== 'run') {
    if (parsed.positionals.length) throw new InputError([`unexpected argument "${parsed.positionals[0]}"`]);
    return { command, ...common };
  }
  const [playbook, extra] = parsed.positionals;
  if (!playbook) throw new InputError(['missing PLAYBOOK (e.g. rigger run playbooks/site.ts -i inventories/lab)']);
  if (extra) throw new InputError([`unexpected argument "${extra}"`]);
  const forks = v.forks === undefined ? 25 : Number(v.forks);
  if (!Number.isInteger(forks) || forks < 1) throw new InputError([`--forks: expected a whole number >= 1, got "${v.forks}"`]);
  return {
    command,
    ...common,
    playbook,
    extraVars: v['extra-vars'] ?? [],
    check: v.check,
    diff: v.diff,
    tags: list(v.tags),
    skipTags: list(v['skip-tags']),
    forks,
    forceHandlers: v['force-handlers'],
    listHosts: v['list-hosts'],
    listTasks: v['list-tasks'],
    listTags: v['list-tags'],
    verbose: v.verbose,
    ...(v.events ? { events: v.events } : {}),
  };
}
