/**
 * Runs a playbook: plan and validate everything locally (no connection before the input is
 * known good), then run steps — plays in sequence or at the same time — with rolling
 * batches, gates, handlers and the failure policy.
 */
import type { Inventory, Host } from '../inventory/types.ts';
import { selectHosts } from '../inventory/pattern.ts';
import type { Transport } from '../transport/types.ts';
import { TransportError } from '../transport/types.ts';
import { redact } from '../core/secret.ts';
import type { GateContext, HookContext, HostView, Play, Playbook, Step } from './play.ts';
import type { Role, RoleContext } from './role.ts';
import { TaskError, type Delegate, type TaskContext } from './types.ts';
import { createTaskContext } from './context.ts';
import { RunState } from './run-state.ts';
import { lockHosts, needsRunLock, takeRunLock, type RunLock, type RunLockOptions } from './run-lock.ts';
import { healLeftovers, healMessage } from './undo.ts';
import { checkMembership, membersToWrite, newcomersMessage, writeMembersScript } from './membership.ts';
import { BarrierGroup } from './barrier.ts';
import { HandlerTable, type HandlerDef } from './handlers.ts';
import { runEntries, runHandlers, type HostPlayEnv, type TaskEntry } from './host-runner.ts';
import { HostPool, type Gather, type HostHandle } from './host-pool.ts';
import { writePending } from './pending.ts';
import { errorText } from './run-task.ts';
import { InputError } from '../core/errors.ts';
import { groupVarsIssues, resolveRoleVars, unknownTopLevelKeys, type VarsIssue } from './vars.ts';
import { crossCheck, type PlanWarning } from './cross-checks.ts';
import { runScope } from './departing.ts';
import { emptyRecap, type EngineEvent, type HostRecap, type Reporter, type RunRecap } from './events.ts';

export interface RunOptions {
  check?: boolean;
  diff?: boolean;
  limit?: string;
  tags?: string[];
  skipTags?: string[];
  /** Remote commands in flight at once across all hosts (default 25). */
  forks?: number;
  /** Run already-notified handlers even when a later task failed. */
  forceHandlers?: boolean;
  openTransport: (host: Host) => Transport;
  reporter: Reporter;
  /** Interrupt: no new play or batch starts; running tasks finish, handlers and recap as usual. */
  signal?: AbortSignal;
  /** How the first round trip gets facts and owed handlers (tests and the benchmark fake it). */
  gather?: Gather;
  /** The cluster-wide run lock (run-lock.ts): on unless false (engine tests over a fake transport). */
  lock?: RunLockOptions | false;
}

export interface PlannedPlay {
  play: Play;
  hosts: Host[];
  /** play -> host -> role name -> validated vars */
  vars: Map<string, Map<string, unknown>>;
}

/** Validates the whole playbook against the inventory. Throws InputError listing every problem. */
export function planPlaybook(pb: Playbook, full: Inventory, fullLimit?: string): Map<Play, PlannedPlay> {
  const { inv, limit } = runScope(pb, full, fullLimit);
  const problems: string[] = [];
  const varsIssues: VarsIssue[] = [];
  const planned = new Map<Play, PlannedPlay>();
  for (const play of plays(pb.steps)) {
    let hosts: Host[] = [];
    try {
      hosts = selectHosts(inv, play.hosts, limit);
      if (play.beyondLimit !== undefined) {
        // Checked with or without --limit, so a typo fails the plain run too.
        const extra = new Set(selectHosts(inv, play.hosts, play.beyondLimit).map((h) => h.name));
        const chosen = new Set(hosts.map((h) => h.name));
        hosts = [...inv.hosts.values()].filter((h) => chosen.has(h.name) || extra.has(h.name));
      }
    } catch (e) {
      problems.push(`play "${play.name}": ${errorText(e)}`);
      continue;
    }
    const vars = new Map<string, Map<string, unknown>>();
    for (const host of hosts) {
      const perRole = new Map<string, unknown>();
      for (const role of play.roles ?? []) {
        const r = resolveRoleVars(role, host, inv);
        if (r.ok) perRole.set(role.name, r.vars);
        else varsIssues.push(...r.issues);
      }
      vars.set(host.name, perRole);
    }
    planned.set(play, { play, hosts, vars });
  }
  // Vars: each mistake once (a group_vars key reaches many hosts), then checks between roles.
  varsIssues.push(...unknownTopLevelKeys(inv, plays(pb.steps).flatMap((p) => (p.roles ?? []).map((r) => r.name))));
  problems.push(...groupVarsIssues(varsIssues));
  let warnings: PlanWarning[] = [];
  if (problems.length === 0) {
    const cc = crossCheck(planned.values(), inv);
    problems.push(...cc.problems);
    warnings = cc.warnings;
  }
  if (problems.length) throw new InputError([...new Set(problems)]);
  planWarningsOf.set(planned, warnings);
  return planned;
}

const planWarningsOf = new WeakMap<Map<Play, PlannedPlay>, PlanWarning[]>();

/** What the plan found doubtful but not wrong (an even etcd quorum, ...): each names its hosts. */
export function planWarnings(planned: Map<Play, PlannedPlay>): PlanWarning[] {
  return planWarningsOf.get(planned) ?? [];
}

export function plays(steps: Step[]): Play[] {
  return steps.flatMap((s) => (s.kind === 'play' ? [s] : plays(s.steps)));
}

/** `planned`: the plan the caller already made with planPlaybook (same limit), so it is made once. */
export async function runPlaybook(pb: Playbook, inv: Inventory, opts: RunOptions, planned = planPlaybook(pb, inv, opts.limit)): Promise<RunRecap> {
  return new Runner(pb, runScope(pb, inv, opts.limit).inv, planned, opts).run();
}

class Runner {
  readonly #pool: HostPool;
  readonly #recap = new Map<string, HostRecap>();
  /** Hosts that failed or were unreachable: they leave every later play. */
  readonly #dead = new Set<string>();
  readonly #shared = new RunState();
  #aborted: string | undefined;
  #refused: 'run-lock' | 'unreachable-newcomer' | undefined;
  readonly #started = Date.now();

  constructor(
    private readonly pb: Playbook,
    private readonly inv: Inventory,
    private readonly planned: Map<Play, PlannedPlay>,
    private readonly opts: RunOptions,
  ) {
    this.#pool = new HostPool(opts.forks ?? 25, opts.openTransport, opts.gather);
  }

  get pool(): HostPool {
    return this.#pool;
  }

  async run(): Promise<RunRecap> {
    const all = new Set<string>();
    for (const p of this.planned.values()) for (const h of p.hosts) all.add(h.name);
    for (const h of all) this.#recap.set(h, emptyRecap());
    this.#emit({ type: 'run-start', playbook: this.pb.name, hosts: [...all], check: !!this.opts.check });
    for (const w of planWarnings(this.planned)) {
      const host = w.hosts.find((h) => all.has(h));
      if (host) this.#warn(host, w.message);
    }
    let lock: RunLock | undefined;
    try {
      lock = await this.#takeLock();
      if (this.#aborted) this.#refused = 'run-lock';
      else if (await this.#membershipStops()) this.#refused = 'unreachable-newcomer';
      for (const step of this.pb.steps) await this.#step(step);
      if (!this.#refused) await this.#recordMembers();
    } finally {
      await lock?.release();
      await this.#pool.closeAll();
    }
    const hosts = Object.fromEntries(this.#recap);
    const recap: RunRecap = {
      ok: !this.#aborted && Object.values(hosts).every((h) => h.failed === 0 && !h.unreachable),
      durationMs: Date.now() - this.#started,
      hosts,
      ...(this.#aborted ? { aborted: this.#aborted } : {}),
      ...(this.#refused ? { refused: this.#refused } : {}),
    };
    this.#emit({ type: 'run-end', recap });
    return recap;
  }

  /** Every host the plays target (--limit ignored), reached for the membership check and record. */
  #targets: HostHandle[] = [];

  /**
   * Before the first task: every host the plays target, --limit ignored, is reached. One that
   * cannot be and that no reachable host knows as a member (membership.ts) would be added to
   * every other host's config unconfigured: the run stops, exit 4, nothing changed.
   */
  async #membershipStops(): Promise<boolean> {
    if (this.opts.lock === false || this.pb.readOnly) return false;
    const { reached, newcomers } = await checkMembership(lockHosts(this.pb, this.inv), (h) => this.#pool.get(h), (e) => redact(errorText(e)));
    this.#targets = reached;
    if (newcomers.length === 0) return false;
    for (const d of newcomers) {
      const r = this.#recap.get(d.host.name) ?? emptyRecap();
      r.unreachable = true;
      this.#recap.set(d.host.name, r);
      this.#emit({ type: 'unreachable', play: '(membership check)', host: d.host.name, error: d.error });
    }
    this.#abort(newcomersMessage(newcomers.map((d) => d.host.name)));
    return true;
  }

  /** After the run: the reachable targets recorded as members on each of them, where that changes the record. */
  async #recordMembers(): Promise<void> {
    if (this.opts.check) return;
    const { hosts, body } = membersToWrite(this.#targets, new Set(this.inv.departing?.keys()));
    await Promise.all(hosts.map((h) => h.exec(writeMembersScript(), { stdin: body }).catch(() => undefined)));
  }

  #warn(host: string, message: string): void {
    this.#recap.get(host)?.warnings.push(message);
    this.#emit({ type: 'warn', host, message });
  }

  /** The run lock before the first task, unless --check or a read-only playbook; a refusal stops the run. */
  async #takeLock(): Promise<RunLock | undefined> {
    if (this.opts.lock === false || !needsRunLock(this.pb, this.opts.check)) return undefined;
    const warn = (host: string, message: string) => this.#warn(host, message);
    const { lock, refused } = await takeRunLock(this.pb, this.inv, this.opts.lock ?? {}, (h) => this.#pool.connected(h), {
      warn,
      lost: (reason) => this.#abort(reason),
      inRun: (host) => this.#recap.has(host),
    });
    if (refused) this.#abort(refused);
    return lock;
  }

  #interrupted(): boolean {
    const why = this.opts.signal?.reason;
    if (this.opts.signal?.aborted) this.#abort(typeof why === 'string' ? why : 'interrupted (SIGINT): no further play or batch was started');
    return this.#aborted !== undefined;
  }

  async #step(step: Step): Promise<void> {
    if (this.#interrupted()) return;
    if (step.kind === 'play') return this.#play(step);
    if (step.kind === 'sequence') {
      for (const s of step.steps) await this.#step(s);
      return;
    }
    const overlap = this.#overlap(step.steps);
    if (overlap.length) {
      this.#emit({ type: 'log', host: '(plan)', message: `parallel steps share ${overlap.join(', ')}: running them one after the other` });
      for (const s of step.steps) await this.#step(s);
      return;
    }
    await Promise.all(step.steps.map((s) => this.#step(s)));
  }

  /** Hosts planned in more than one of these branches. */
  #overlap(branches: Step[]): string[] {
    const branchesOf = new Map<string, Set<number>>();
    branches.forEach((b, i) => {
      for (const p of plays([b])) for (const h of this.planned.get(p)?.hosts ?? []) branchesOf.set(h.name, (branchesOf.get(h.name) ?? new Set()).add(i));
    });
    return [...branchesOf].filter(([, s]) => s.size > 1).map(([h]) => h).sort();
  }

  #abort(reason: string): void {
    if (this.#aborted) return;
    this.#aborted = reason;
    this.#emit({ type: 'abort', reason });
  }

  async #play(play: Play): Promise<void> {
    const plan = this.planned.get(play)!;
    const hosts = plan.hosts.filter((h) => !this.#dead.has(h.name));
    this.#emit({ type: 'play-start', play: play.name, hosts: hosts.map((h) => h.name) });
    if (hosts.length === 0) return this.#emit({ type: 'play-end', play: play.name });

    const handles = await Promise.all(hosts.map((h) => this.#reach(play, h)));
    let views = handles.filter((h): h is HostHandle => h !== null);
    const total = hosts.length;
    if (play.order) {
      try {
        views = (await play.order(views.map(toView), this.#hooks(play))).map((v) => views.find((h) => h.host.name === v.host.name)!);
      } catch (e) {
        this.#abort(`play "${play.name}": ordering hosts failed: ${errorText(e)}`);
        return;
      }
    }
    const size = batchSize(play.serial, views.length);
    for (let b = 0, start = 0; start < views.length; b++, start += size) {
      if (this.#interrupted()) return;
      const batch = views.slice(start, start + size).filter((h) => !this.#dead.has(h.host.name));
      if (play.serial !== undefined) this.#emit({ type: 'batch-start', play: play.name, batch: b + 1, hosts: batch.map((h) => h.host.name) });
      const barrier = new BarrierGroup(batch.map((h) => h.host.name));
      const results = await Promise.all(batch.map((h) => this.#hostPlay(play, plan, h, barrier)));
      const failedHere = batch.filter((_, i) => !results[i]).map((h) => h.host.name);
      const failedAll = hosts.filter((h) => this.#dead.has(h.name)).length;
      if (play.anyErrorsFatal && failedAll > 0) return this.#abort(`play "${play.name}": host(s) failed and anyErrorsFatal is set`);
      if (play.maxFailPercent !== undefined && (failedAll * 100) / total > play.maxFailPercent)
        return this.#abort(`play "${play.name}": ${failedAll} of ${total} hosts failed, over maxFailPercent ${play.maxFailPercent}%`);
      if (play.serial !== undefined && failedHere.length > 0)
        return this.#abort(`play "${play.name}": rollout stopped after batch ${b + 1}: ${failedHere.join(', ')} failed`);
      if (play.gate) {
        const ctx: GateContext = {
          ...this.#hooks(play),
          batch: batch.map(toView),
          all: views.filter((h) => !this.#dead.has(h.host.name)).map(toView),
        };
        try {
          await play.gate(ctx);
          this.#emit({ type: 'gate', play: play.name, batch: b + 1, ok: true });
        } catch (e) {
          const error = redact(errorText(e));
          this.#emit({ type: 'gate', play: play.name, batch: b + 1, ok: false, error });
          return this.#abort(`play "${play.name}": gate after batch ${b + 1} failed: ${error}`);
        }
      }
    }
    this.#emit({ type: 'play-end', play: play.name });
  }

  async #reach(play: Play, host: Host): Promise<HostHandle | null> {
    try {
      return await this.#pool.get(host);
    } catch (e) {
      this.#dead.add(host.name);
      const error = redact(errorText(e));
      this.#recap.get(host.name)!.unreachable = true;
      this.#emit({ type: 'unreachable', play: play.name, host: host.name, error });
      return null;
    }
  }

  /**
   * What interrupted runs left on a host (undo.ts), put back once per run before this run does
   * anything there, or only reported under --check or by a read-only playbook.
   */
  #heal(h: HostHandle): Promise<void> {
    h.healed ??= (async () => {
      if (h.leftovers.length === 0) return;
      const report = !!this.opts.check || !!this.pb.readOnly;
      for (const o of await healLeftovers(h, h.leftovers, report)) this.#warn(h.host.name, redact(healMessage(o)));
    })();
    return h.healed;
  }

  /** One host through one play (inside its batch). False when the host failed. */
  async #hostPlay(play: Play, plan: PlannedPlay, h: HostHandle, barrier: BarrierGroup): Promise<boolean> {
    const name = h.host.name;
    await this.#heal(h);
    const base = (): TaskContext =>
      createTaskContext({
        host: h.host,
        facts: h.facts,
        inventory: this.inv,
        transport: { exec: h.exec },
        check: !!this.opts.check,
        diff: !!this.opts.diff,
        shared: this.#shared,
        barrier: (n) => barrier.arrive(name, n),
        delegate: (n) => this.#delegate(n),
        log: (message) => this.#emit({ type: 'log', host: name, message: redact(message) }),
        warn: (message) => this.#warn(name, redact(message)),
      });
    const hostCtx = base();
    const roleCtx = new Map<string, RoleContext<unknown>>();
    const defs: HandlerDef[] = [];
    const entries: TaskEntry[] = [];
    const env: HostPlayEnv = {
      play: play.name,
      host: name,
      check: !!this.opts.check,
      tags: this.opts.tags ?? [],
      skipTags: this.opts.skipTags ?? [],
      handlers: new HandlerTable(defs),
      notified: new Set(),
      handlerCtx: (key) => {
        const role = defs.find((d) => d.key === key)?.role;
        return (role && roleCtx.get(role)) || hostCtx;
      },
      emit: (e) => this.#emit(e),
    };
    let ok = false;
    try {
      for (const role of play.roles ?? []) {
        const ctx: RoleContext<unknown> = { ...base(), vars: plan.vars.get(name)!.get(role.name) };
        roleCtx.set(role.name, ctx);
        for (const task of await (role as Role).tasks(ctx)) entries.push({ task, ctx, role: role.name });
        for (const [hn, build] of Object.entries(role.handlers ?? {}))
          defs.push({ key: `${role.name}:${hn}`, name: hn, role: role.name, build: () => build(ctx) });
      }
      if (play.tasks) for (const task of await play.tasks(hostCtx)) entries.push({ task, ctx: hostCtx });
      for (const [hn, build] of Object.entries(play.handlers ?? {}))
        defs.push({ key: `play:${play.name}:${hn}`, name: hn, build: () => build(hostCtx) });

      // Handlers an earlier run owed on this host start out notified.
      const owed = defs.filter((d) => h.pending.has(d.key)).map((d) => d.key);
      for (const k of owed) env.notified.add(k);

      ok = await runEntries(entries, env);
      if (ok || this.opts.forceHandlers) ok = (await runHandlers(env)) && ok;
      if (!this.opts.check) {
        const mine = new Set(defs.map((d) => d.key));
        const before = [...h.pending].sort().join();
        for (const k of mine) h.pending.delete(k);
        for (const k of env.notified) h.pending.add(k);
        if ([...h.pending].sort().join() !== before) {
          const keys = [...h.pending];
          h.pendingWrites = h.pendingWrites.then(() => writePending(hostCtx, keys));
          await h.pendingWrites;
        }
      }
      if (!ok) this.#fail(play, name, 'a task failed');
      return ok;
    } catch (e) {
      if (e instanceof TransportError) {
        this.#dead.add(name);
        this.#recap.get(name)!.unreachable = true;
        this.#emit({ type: 'unreachable', play: play.name, host: name, error: redact(e.message) });
      } else {
        this.#recap.get(name)!.failed++;
        this.#fail(play, name, redact(errorText(e)));
      }
      return false;
    } finally {
      barrier.leave(name);
    }
  }

  #hooks(play: Play): HookContext {
    return {
      inventory: this.inv,
      shared: this.#shared,
      log: (message) => this.#emit({ type: 'log', host: play.name, message: redact(message) }),
      delegate: (name) => this.#delegate(name),
    };
  }

  /** A peer host over the run's pool; its failures are the delegating task's, named after the peer. */
  async #delegate(name: string): Promise<Delegate> {
    const host = this.inv.hosts.get(name) ?? this.inv.departing?.get(name);
    if (!host) throw new TaskError(`cannot delegate to ${name}: no such host in ${this.inv.source}`);
    let h: HostHandle;
    try {
      h = await this.#pool.get(host);
    } catch (e) {
      throw new TaskError(`cannot reach ${name}: ${peerError(name, e)}`);
    }
    await this.#heal(h);
    return {
      host: h.host,
      facts: h.facts,
      exec: async (script, opts) => {
        try {
          return await h.exec(script, opts);
        } catch (e) {
          throw new TaskError(`${name}: ${peerError(name, e)}`);
        }
      },
    };
  }

  #fail(play: Play, host: string, error: string): void {
    this.#dead.add(host);
    this.#emit({ type: 'host-failed', play: play.name, host, error });
  }

  #emit(e: EngineEvent): void {
    if (e.type === 'task') {
      const r = this.#recap.get(e.host);
      if (r) {
        if (e.result.status === 'failed' && e.result.ignored) r.ok++;
        else r[e.result.status]++;
      }
    }
    this.opts.reporter.event(e);
  }
}

/** A peer's error text without its host prefix (TransportError messages start with it). */
function peerError(name: string, e: unknown): string {
  const text = redact(errorText(e));
  return text.startsWith(`${name}: `) ? text.slice(name.length + 2) : text;
}

function toView(h: HostHandle): HostView {
  return { host: h.host, facts: h.facts, exec: h.exec };
}

/** serial: a count, a fraction (0,1], or 'N%'. At least one host per batch. */
export function batchSize(serial: Play['serial'], n: number): number {
  if (serial === undefined) return Math.max(1, n);
  if (typeof serial === 'string') return Math.max(1, Math.floor((n * parseFloat(serial)) / 100));
  if (serial > 0 && serial <= 1 && !Number.isInteger(serial)) return Math.max(1, Math.floor(n * serial));
  return Math.max(1, Math.floor(serial));
}
