/**
 * The rigger command: parse, load input (nothing connects until it is all valid), pick a
 * reporter, run, print the recap, and exit like ansible-playbook (0 ok, 1 bad input,
 * or the run lock is held, 2 a host failed, 4 unreachable; 128 + N when stopped by signal N).
 */
import { loadInventory } from '../inventory/load.ts';
import { renderInventory } from '../inventory/show.ts';
import { allowUnsetEnv } from '../inventory/secret-refs.ts';
import { selectHosts } from '../inventory/pattern.ts';
import { applyExtraVars } from '../inventory/extra-vars.ts';
import { openTransport } from '../transport/open.ts';
import { gatherFacts } from '../facts/gather.ts';
import { loadPlaybook } from './load-playbook.ts';
import { planPlaybook, runPlaybook } from '../engine/run.ts';
import { DEFAULT_HEARTBEAT_MS, DEFAULT_STALE_MS, needsRunLock, RUN_LOCK_DIR, type RunLockOptions } from '../engine/run-lock.ts';
import { closeSync, openSync, statSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { redact } from '../core/secret.ts';
import { InputError } from '../core/errors.ts';
import type { Inventory } from '../inventory/types.ts';
import type { Reporter } from '../engine/events.ts';
import { PlainReporter } from '../report/plain.ts';
import { ListrReporter } from '../report/listr.ts';
import { EventsFileReporter, MultiReporter } from '../report/events-file.ts';
import { exitCode } from '../report/recap.ts';
import { parseCli, type CliArgs, type CommonOptions, type RunArgs } from './args.ts';
import { tracing } from './trace.ts';
import { checkTags, listHosts, listTags, listTasks, playTags } from './list.ts';

export async function main(argv: string[]): Promise<number> {
  try {
    const args = parseCli(argv);
    if (args.command === 'help' || args.command === 'version') {
      process.stdout.write(args.text);
      return 0;
    }
    return await dispatch(args);
  } catch (e) {
    return inputFailure(e);
  }
}

async function dispatch(args: Exclude<CliArgs, { command: 'help' | 'version' }>): Promise<number> {
  if (args.insecureSkipHostKeyCheck)
    process.stderr.write('\n!!! WARNING: host key checking is OFF (--insecure-no-host-key-check). Anyone on the path can impersonate your hosts. !!!\n\n');
  // Commands that connect check key files now; `inventory` only shows them.
  // `inventory` shows secrets of unset env vars as unset; commands that connect refuse them.
  const show = args.command === 'inventory';
  const inv = await loadInventory(args.inventory, { ...inventoryOptions(args), checkKeyFiles: !show, ...(show ? { env: allowUnsetEnv(process.env) } : {}) });
  checkLimit(inv, args.limit);
  if (!show) checkKnownHosts(args);
  if (args.command === 'inventory') {
    process.stdout.write(renderInventory(inv, { json: args.json, ...(args.limit ? { limit: args.limit } : {}) }) + '\n');
    return 0;
  }
  if (args.command === 'facts') return facts(args, inv);
  return run(args, inv);
}

/** A limit that selects no host is a mistake (as ansible-playbook says), not a run that does nothing. */
function checkLimit(inv: Inventory, limit: string | undefined): void {
  if (limit === undefined) return;
  if (selectHosts(inv, 'all', limit).length === 0)
    throw new InputError([`-l/--limit ${JSON.stringify(limit)}: matches no host of ${inv.source}`]);
}

/**
 * A --known-hosts file that is not there would make every host's key unknown (each host
 * unreachable): a typo in the path, said now. With --accept-new-host-keys it is created.
 */
function checkKnownHosts(args: CommonOptions): void {
  if (!args.knownHosts || args.acceptNewHostKeys || args.insecureSkipHostKeyCheck) return;
  try {
    if (!statSync(args.knownHosts).isFile()) throw new InputError([`--known-hosts ${args.knownHosts}: not a file`]);
  } catch (e) {
    if (e instanceof InputError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new InputError([`--known-hosts ${args.knownHosts}: ${code === 'ENOENT' ? 'no such file (with --accept-new-host-keys it is created)' : `cannot read (${code ?? String(e)})`}`]);
  }
}

/** The events file is opened now: a path that cannot be written is bad input, not a crash after the run. */
function checkEventsFile(path: string): void {
  try {
    closeSync(openSync(path, 'w', 0o600));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new InputError([`--events ${path}: cannot write (${code === 'ENOENT' ? 'no such directory' : (code ?? String(e))})`]);
  }
}

function inventoryOptions(args: CommonOptions) {
  return {
    acceptNewHostKeys: args.acceptNewHostKeys,
    insecureSkipHostKeyCheck: args.insecureSkipHostKeyCheck,
    ...(args.knownHosts ? { knownHosts: args.knownHosts } : {}),
  };
}

async function run(args: RunArgs, inv: Awaited<ReturnType<typeof loadInventory>>): Promise<number> {
  applyExtraVars(inv, args.extraVars);
  const pb = await loadPlaybook(args.playbook);
  const planned = planPlaybook(pb, inv, args.limit); // validates everything before any connection
  if (args.listHosts || args.listTasks) {
    const text = args.listHosts ? listHosts(pb, planned) : await listTasks(pb, planned, inv);
    process.stdout.write(redact(text) + '\n');
    return 0;
  }
  if (args.events) checkEventsFile(args.events);
  const tags = await playTags(pb, planned, inv);
  if (args.listTags) {
    process.stdout.write(redact(listTags(tags)) + '\n');
    return 0;
  }
  checkTags(args, tags);
  const lock = runLockOptions(args, process.env);
  if (args.breakLock && needsRunLock(pb, args.check))
    process.stderr.write('\n!!! --break-lock: taking the run lock even from a run that still heartbeats; any lock taken is named in a warning !!!\n\n');
  const reporters: Reporter[] = [];
  const out = args.json ? process.stderr : process.stdout;
  // -vv prints lines of its own: plain lines then, not the terminal's progress rows.
  const tty = process.stdout.isTTY && !args.json && !process.env.CI && args.verbose < 2;
  const verbose = args.verbose >= 1;
  if (tty) reporters.push(new ListrReporter({ diff: args.diff, verbose }));
  else reporters.push(new PlainReporter({ out, diff: args.diff, verbose }));
  if (args.events) reporters.push(new EventsFileReporter(args.events));
  const reporter = new MultiReporter(reporters);
  // First SIGINT, SIGTERM or SIGHUP: finish what runs now (a rollout stops between batches),
  // release the run lock, recap, exit 128 + N. A second signal kills the process at once
  // (the lock stays and goes stale).
  const interrupt = new AbortController();
  let caught: NodeJS.Signals | undefined;
  const stop = (sig: NodeJS.Signals) => {
    if (caught) {
      process.stderr.write(`\n${sig} again: stopping now; the run lock stays on the hosts until it goes stale\n`);
      for (const s of STOP_SIGNALS) process.removeAllListeners(s);
      process.kill(process.pid, sig);
      return;
    }
    caught = sig;
    process.stderr.write(`\n${sig}: finishing the running tasks, starting nothing new, then releasing the run lock (signal again to force)\n`);
    interrupt.abort(`interrupted (${sig}): no further play or batch was started`);
  };
  for (const sig of STOP_SIGNALS) process.on(sig, stop);
  try {
    const recap = await runPlaybook(pb, inv, {
      check: args.check,
      diff: args.diff,
      tags: args.tags,
      skipTags: args.skipTags,
      forks: args.forks,
      forceHandlers: args.forceHandlers,
      lock,
      openTransport: args.verbose >= 2 ? tracing(openTransport, out) : openTransport,
      reporter,
      signal: interrupt.signal,
      ...(args.limit ? { limit: args.limit } : {}),
    }, planned);
    await reporter.close();
    if (args.json) {
      const hosts = Object.fromEntries(
        Object.entries(recap.hosts).map(([n, h]) => [n, { ok: h.ok, changed: h.changed, failed: h.failed, skipped: h.skipped, unreachable: h.unreachable, warnings: h.warnings }]),
      );
      process.stdout.write(redact(JSON.stringify({ ok: recap.ok, durationMs: recap.durationMs, hosts, ...(recap.aborted ? { aborted: recap.aborted } : {}), ...(recap.refused ? { refused: recap.refused } : {}) })) + '\n');
    }
    return caught ? 128 + osConstants.signals[caught] : exitCode(recap);
  } finally {
    for (const sig of STOP_SIGNALS) process.off(sig, stop);
  }
}

const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * The run lock's settings: --break-lock, and from the environment RIGGER_LOCK_STALE_SECONDS
 * (how long without heartbeat makes a lock stale; default 60) and RIGGER_LOCK_DIR (where the
 * lock lives on each host; default /var/lib/rigger; the tests use their own). The heartbeat
 * comes every 5 s, or a quarter of the stale bound when that is shorter.
 */
export function runLockOptions(args: Pick<RunArgs, 'breakLock'>, env: NodeJS.ProcessEnv): RunLockOptions {
  const text = env.RIGGER_LOCK_STALE_SECONDS;
  let staleMs = DEFAULT_STALE_MS;
  if (text !== undefined && text !== '') {
    const n = Number(text);
    if (!/^\s*\d+(\.\d+)?\s*$/.test(text) || !(n > 0)) throw new InputError([`RIGGER_LOCK_STALE_SECONDS=${JSON.stringify(text)}: expected a number of seconds > 0`]);
    staleMs = n * 1000;
  }
  const dir = env.RIGGER_LOCK_DIR;
  if (dir !== undefined && dir !== '' && !dir.startsWith('/')) throw new InputError([`RIGGER_LOCK_DIR=${JSON.stringify(dir)}: expected an absolute path on the hosts`]);
  return {
    staleMs,
    heartbeatMs: Math.max(250, Math.min(DEFAULT_HEARTBEAT_MS, staleMs / 4)),
    breakLock: args.breakLock,
    dir: dir || RUN_LOCK_DIR,
  };
}

async function facts(args: CommonOptions, inv: Awaited<ReturnType<typeof loadInventory>>): Promise<number> {
  const hosts = selectHosts(inv, 'all', args.limit);
  const results = await Promise.all(
    hosts.map(async (host) => {
      const t = openTransport(host);
      try {
        await t.connect();
        return { name: host.name, facts: await gatherFacts(t) } as const;
      } catch (e) {
        return { name: host.name, error: e instanceof Error ? e.message : String(e) } as const;
      } finally {
        await t.close().catch(() => undefined);
      }
    }),
  );
  const failed = results.filter((r) => 'error' in r);
  if (args.json) {
    process.stdout.write(JSON.stringify(Object.fromEntries(results.map((r) => [r.name, 'error' in r ? { unreachable: true, error: r.error } : r.facts])), null, 2) + '\n');
  } else {
    for (const r of results) {
      if ('error' in r) process.stdout.write(`${r.name}: UNREACHABLE: ${r.error}\n`);
      else {
        const f = r.facts;
        process.stdout.write(
          `${r.name}: ${f.hostname} ${f.os.id} ${f.os.version} (${f.os.codename}) ${f.arch}, ${f.cpus} cpu, ${f.memoryMb} MB, ` +
            `${f.virtualization.container ? `container (${f.virtualization.type})` : f.virtualization.type}, ` +
            `default ${f.defaultIpv4 ? `${f.defaultIpv4.address} via ${f.defaultIpv4.interface}` : 'none'}\n`,
        );
      }
    }
  }
  return failed.length ? 4 : 0;
}

function inputFailure(e: unknown): number {
  const msg = e instanceof Error ? e.message : String(e);
  const known = e instanceof Error && ['InputError', 'InventoryError'].includes(e.name);
  process.stderr.write(`rigger: ${redact(known ? msg : (e instanceof Error && e.stack) || msg)}\n`);
  return 1;
}
