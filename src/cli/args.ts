/**
 * argv -> typed options for each command, through node's util.parseArgs (strict: an unknown
 * flag, a missing value or a flag another command owns is an input error, exit 1). Each
 * command has its own flags and its own --help.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { readFileSync } from 'node:fs';
import { InputError } from '../core/errors.ts';

const HOST_KEY_HELP = `Host keys:
      --known-hosts FILE      check host keys against FILE (default: the inventory's, else ~/.ssh/known_hosts)
      --accept-new-host-keys  record unknown host keys (a changed key is still refused)
      --insecure-no-host-key-check   DANGEROUS: do not verify host keys at all
`;

const RUN_USAGE = `Usage: rigger run PLAYBOOK.ts -i INVENTORY [options]

Converge the hosts of the inventory to what the playbook says. Everything is checked (inventory,
vars, tags, limit, key files) before any host is touched.

Options:
  -i, --inventory PATH        inventory file or directory (ours, TypeScript, or Ansible INI/YAML); once
  -l, --limit PATTERN         only these hosts (group pattern: a:b union, a:&b and, a:!b not); must match a host
  -C, --check                 change nothing; report what would change
  -D, --diff                  show file diffs for changes (secrets masked)
  -e, --extra-vars KEY=VALUE  a var over the inventory's, for every host (repeatable; -e rollout.candidate=pg3)
  -t, --tags a,b              only tasks with these tags (a role's name is one of its tags)
      --skip-tags a,b         skip tasks with these tags
  -f, --forks N               remote commands in flight at once (default 25)
      --force-handlers        run notified handlers even when a later task failed
      --break-lock            take the cluster's run lock even when another run holds it and it is not
                              stale (only when you know that run is gone; it is named in a warning)
      --json                  print one JSON recap object on stdout (progress goes to stderr)
      --events FILE           write every event as a JSON line to FILE
      --list-hosts            print the hosts of each play and exit (no connection)
      --list-tasks            print the tasks of each play and exit (no connection)
      --list-tags             print the tags of each play and exit (no connection)
  -v, --verbose               also print ok and skipped tasks
  -vv                         also print every probe and command run on a host (secrets masked); -vvv: the same
  -h, --help                  this help
${HOST_KEY_HELP}
Run lock: a run that may change things (not --check, not a read-only playbook) holds a lock on every
host of its plays; another run finding it stops (exit 2) naming the holder. A lock without heartbeat for
RIGGER_LOCK_STALE_SECONDS (default 60) is stale and taken over with a warning.

Exit status: 0 ok, 1 bad input (nothing connected), 2 a host failed (or the run lock is held by
another run), 4 a host was unreachable; 129/130/143 stopped by SIGHUP/SIGINT/SIGTERM.
`;

const FACTS_USAGE = `Usage: rigger facts -i INVENTORY [-l PATTERN] [--json]

Connect to each host and print what the engine sees (OS, CPUs, memory, default route).

Options:
  -i, --inventory PATH        inventory file or directory; once
  -l, --limit PATTERN         only these hosts; must match a host
      --json                  one JSON object: host -> facts
  -h, --help                  this help
${HOST_KEY_HELP}
Exit status: 0 ok, 1 bad input (nothing connected), 4 a host was unreachable.
`;

const INVENTORY_USAGE = `Usage: rigger inventory -i INVENTORY [-l PATTERN] [--json]

Print hosts (with their connection), groups and each host's resolved vars with the file that set
them. Secrets show as ********; a secret whose environment variable is unset shows as unset.
Nothing connects.

Options:
  -i, --inventory PATH        inventory file or directory; once
  -l, --limit PATTERN         only these hosts; must match a host
      --json                  as JSON
  -h, --help                  this help
${HOST_KEY_HELP}`;

export const USAGE = `rigger — typed, agentless orchestration for PostgreSQL HA clusters

Usage:
  rigger run PLAYBOOK.ts -i INVENTORY [options]   converge (rigger run --help)
  rigger facts -i INVENTORY [-l PATTERN] [--json]  what the engine sees on each host
  rigger inventory -i INVENTORY [-l PATTERN] [--json]   hosts, groups, resolved vars (secrets masked)
  rigger COMMAND --help                            a command's options
  rigger --version                                 rigger's version
`;

export const COMMAND_USAGE = { run: RUN_USAGE, facts: FACTS_USAGE, inventory: INVENTORY_USAGE } as const;
type Command = keyof typeof COMMAND_USAGE;

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
  /** Take the run lock even from a run that is not stale. */
  breakLock: boolean;
  events?: string;
  listHosts: boolean;
  listTasks: boolean;
  listTags: boolean;
  /** How many -v: 1 ok/skipped tasks too, 2 (or more) every probe and command as well. */
  verbose: number;
}

export type CliArgs =
  | RunArgs
  | ({ command: 'facts' } & CommonOptions)
  | ({ command: 'inventory' } & CommonOptions)
  | { command: 'help'; text: string }
  | { command: 'version'; text: string };

const list = (v: string | undefined): string[] => (v ? v.split(',').map((s) => s.trim()).filter(Boolean) : []);

type Options = NonNullable<ParseArgsConfig['options']>;

const COMMON: Options = {
  inventory: { type: 'string', short: 'i', multiple: true },
  limit: { type: 'string', short: 'l' },
  json: { type: 'boolean', default: false },
  'known-hosts': { type: 'string' },
  'accept-new-host-keys': { type: 'boolean', default: false },
  'insecure-no-host-key-check': { type: 'boolean', default: false },
};

const RUN: Options = {
  ...COMMON,
  check: { type: 'boolean', short: 'C', default: false },
  'extra-vars': { type: 'string', short: 'e', multiple: true },
  diff: { type: 'boolean', short: 'D', default: false },
  tags: { type: 'string', short: 't' },
  'skip-tags': { type: 'string' },
  forks: { type: 'string', short: 'f' },
  'force-handlers': { type: 'boolean', default: false },
  'break-lock': { type: 'boolean', default: false },
  events: { type: 'string' },
  'list-hosts': { type: 'boolean', default: false },
  'list-tasks': { type: 'boolean', default: false },
  'list-tags': { type: 'boolean', default: false },
  verbose: { type: 'boolean', short: 'v', multiple: true },
};

const OPTIONS: Record<Command, Options> = { run: RUN, facts: COMMON, inventory: COMMON };

export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

const isCommand = (c: string): c is Command => c in COMMAND_USAGE;

export function parseCli(argv: string[]): CliArgs {
  const [command, ...rest] = argv;
  if (!command || command === 'help' || command === '--help' || command === '-h') {
    const about = rest[0];
    if (about !== undefined && !isCommand(about)) throw new InputError([`help: unknown command "${about}" (expected run, facts or inventory)`]);
    return { command: 'help', text: about ? COMMAND_USAGE[about] : USAGE };
  }
  if (command === '--version' || command === '-V' || command === 'version') return { command: 'version', text: `rigger ${version()}\n` };
  if (!isCommand(command)) throw new InputError([`unknown command "${command}" (expected run, facts or inventory; rigger --help)`]);
  // --help anywhere (before a lone `--`) answers with the command's usage, whatever else is there.
  const end = rest.indexOf('--');
  if ((end === -1 ? rest : rest.slice(0, end)).some((a) => a === '--help' || a === '-h')) return { command: 'help', text: COMMAND_USAGE[command] };

  let parsed;
  try {
    parsed = parseArgs({ args: rest, allowPositionals: true, strict: true, options: OPTIONS[command] });
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new InputError([`${command}: ${msg.replace(/\. To specify a positional argument.*$/s, '')} (rigger ${command} --help)`]);
  }
  const v = parsed.values as Record<string, string | boolean | Array<string | boolean> | undefined>;
  const str = (k: string) => v[k] as string | undefined;
  const bool = (k: string) => v[k] === true;

  const inventories = (v.inventory as string[] | undefined) ?? [];
  if (inventories.length === 0) throw new InputError(['missing -i/--inventory PATH']);
  if (inventories.length > 1)
    throw new InputError([
      `-i/--inventory given ${inventories.length} times (${inventories.join(', ')}): rigger reads one inventory; ` +
        'put the hosts and groups in one file or directory (group_vars/ and host_vars/ beside it), or run once per inventory',
    ]);
  const limit = str('limit');
  if (limit !== undefined && limit.trim() === '')
    throw new InputError([`-l/--limit ${JSON.stringify(limit)}: an empty limit would select every host; give a host or group pattern, or leave -l out`]);
  const common: CommonOptions = {
    inventory: inventories[0]!,
    json: bool('json'),
    acceptNewHostKeys: bool('accept-new-host-keys'),
    insecureSkipHostKeyCheck: bool('insecure-no-host-key-check'),
    ...(limit !== undefined ? { limit } : {}),
    ...(str('known-hosts') ? { knownHosts: str('known-hosts')! } : {}),
  };
  if (command !== 'run') {
    if (parsed.positionals.length) throw new InputError([`${command}: unexpected argument "${parsed.positionals[0]}" (rigger ${command} --help)`]);
    return { command, ...common };
  }
  const [playbook, extra] = parsed.positionals;
  if (!playbook) throw new InputError(['missing PLAYBOOK (e.g. rigger run playbooks/site.ts -i inventories/lab)']);
  if (extra) throw new InputError([`unexpected argument "${extra}" (one playbook per run)`]);
  const forksText = str('forks');
  const forks = forksText === undefined ? 25 : /^\s*\d+\s*$/.test(forksText) ? Number(forksText) : NaN;
  if (!Number.isInteger(forks) || forks < 1) throw new InputError([`-f/--forks: expected a whole number >= 1, got "${forksText}"`]);
  for (const flag of ['tags', 'skip-tags'] as const) {
    const text = str(flag);
    if (text !== undefined && list(text).length === 0) throw new InputError([`--${flag} ${JSON.stringify(text)}: no tag given`]);
  }
  const events = str('events');
  if (events !== undefined && events.trim() === '') throw new InputError(['--events: expected a file name']);
  return {
    command,
    ...common,
    playbook,
    extraVars: (v['extra-vars'] as string[] | undefined) ?? [],
    check: bool('check'),
    diff: bool('diff'),
    tags: list(str('tags')),
    skipTags: list(str('skip-tags')),
    forks,
    forceHandlers: bool('force-handlers'),
    breakLock: bool('break-lock'),
    listHosts: bool('list-hosts'),
    listTasks: bool('list-tasks'),
    listTags: bool('list-tags'),
    verbose: ((v.verbose as boolean[] | undefined) ?? []).length,
    ...(events !== undefined ? { events } : {}),
  };
}
