/**
 * The engine's vocabulary: tasks (ops and custom steps), their typed results, and the
 * context a task sees. Roles and playbooks are built from these (see role.ts and play.ts).
 */
import type { ExecOptions, ExecResult, Remote } from '../transport/types.ts';
import type { Host, Inventory } from '../inventory/types.ts';
import type { Facts } from '../facts/types.ts';
import type { Secret } from '../core/secret.ts';
import type { RunState } from './run-state.ts';

/** The outcome of one task on one host. Discriminated on `status`. */
export type TaskResult =
  | { status: 'ok'; message?: string }
  | { status: 'changed'; summary: string; diff?: string }
  | { status: 'skipped'; reason: string }
  | { status: 'failed'; error: string; /** the task said it may fail: the host goes on */ ignored: boolean };

/** What a task can do and know while it runs on one host. */
export interface TaskContext {
  host: Host;
  facts: Facts;
  inventory: Inventory;
  /** --check: report what would change, change nothing. */
  check: boolean;
  /** --diff: changed file tasks carry a unified diff. */
  diff: boolean;
  /** Raw exec on this host's one connection. Never rejects on a non-zero exit. */
  exec(script: string, opts?: ExecOptions): Promise<ExecResult>;
  /** exec that throws a TaskError (with the stderr tail) on a non-zero exit; returns stdout. */
  run(script: string, opts?: ExecOptions): Promise<string>;
  /** A line in the output under this host (redacted). */
  log(message: string): void;
  /** A warning: shown in the recap, does not fail the host. */
  warn(message: string): void;
  /** Run-wide state shared by all hosts, behind typed keys (e.g. who is leader, learned once). */
  shared: RunState;
  /**
   * Waits until every host still active in this play (or rolling batch) has reached the
   * barrier of the same name. For steps that need all members ready (etcd bootstrap).
   */
  barrier(name: string): Promise<void>;
  /**
   * Another host of the inventory, reached over the run's own connection to it (opened on
   * first use, same host-key checks): for steps that must act on a peer, such as a database
   * member's rollout taking it out of the balancers' pools. Fails with a TaskError naming
   * that host when it cannot be reached (this host stays reachable).
   */
  delegate(host: string): Promise<Delegate>;
}

/** A host with its inventory entry, facts and connection: a play hook's batch, a delegate. */
export interface HostView extends Remote {
  host: Host;
  facts: Facts;
}

/** A host reached through `delegate`; its exec's lost connection is a TaskError naming it. */
export type Delegate = HostView;

/** What a probe printed for one op, from the batched probe round trip. */
export interface ProbeOutput {
  code: number;
  stdout: string;
}

/**
 * One step of an op's change, as data: the engine runs it (src/engine/op-commands.ts), tests
 * compare it. A non-zero exit fails the task with a message shaped by `failure`.
 */
export interface OpCommand {
  /** POSIX sh run on the host. */
  script: string;
  /** Fed to the script's stdin: how file content and secrets reach the host (a Secret is revealed only here). */
  stdin?: string | Buffer | Secret;
  /** Deadline for this command (the transport's timeout error unless `failure` says otherwise). */
  timeoutMs?: number;
  /** What the step does, for the error: "<what> failed (exit N)". */
  what: string;
  /** How a failure reads; default `{ style: 'tail' }`. */
  failure?: OpFailure;
}

/** The shapes of an OpCommand failure message (each is the text an op has always produced). */
export type OpFailure =
  /** "<what> failed (exit N):\n<last `lines` (default 10) lines of stderr, else stdout>" */
  | { style: 'tail'; lines?: number }
  /**
   * "<what> failed (exit N): <last `lines` lines of stderr, else stdout>" on the same line.
   * `warnOnly`: the failure is a warning, the change still counts and later commands are skipped.
   */
  | { style: 'inline'; lines: number; warnOnly?: boolean }
  /**
   * A user's command: "<what> failed (exit N): <head>\n<last 10 lines>", and a timeout reads
   * "<what> timed out after Ns: <head>".
   */
  | { style: 'command'; head: string }
  /**
   * systemctl steps: "<what> failed (exit N): <last 5 stderr lines before @@journal>", then the
   * unit's journal lines the script printed after a `@@journal` line on stderr.
   */
  | { style: 'journal'; unit: string };

/** The change branch shared by both forms of a change. */
interface OpChangeBase {
  change: true;
  /** One line: what will change ("mode 0644 -> 0600", "install etcd-server"). */
  summary: string;
  /** Unified diff for file content (shown with --diff; redacted). */
  diff?: string;
}

/** An op's decision after comparing the probed state with the wanted state. */
export type OpPlan =
  | { change: false; message?: string }
  | (OpChangeBase & {
      /** The change as data, run in order (none in check mode); the first failure fails the task. */
      commands: OpCommand[];
    });

interface TaskBase {
  /** Shown in output and the recap; also what --list-tasks prints. */
  name: string;
  /** Handler names to notify when this task reports `changed`. */
  notify?: string[];
  tags?: string[];
  /** Skip the task unless this holds (evaluated on the host's context). */
  when?: (ctx: TaskContext) => boolean;
  /**
   * The task may fail without failing the host: its failure is recorded as a typed result
   * (`failed`, ignored: true) and the host goes on. Nothing is swallowed unless this is set.
   */
  mayFail?: boolean;
}

/**
 * An idempotent operation: `probe` is a read-only POSIX sh snippet whose stdout describes
 * the current state. The engine batches the probes of consecutive ops into one round trip,
 * then calls `plan` with each op's output and applies only what differs.
 */
export interface OpTask extends TaskBase {
  kind: 'op';
  /** Read-only sh snippet; null when the op needs no remote state (plan decides alone). */
  probe: string | null;
  plan(probe: ProbeOutput, ctx: TaskContext): OpPlan | Promise<OpPlan>;
}

export type RunOutcome = { changed: false; message?: string } | { changed: true; summary: string; diff?: string };

/** A custom step (talk to an API, wait for a cluster, decide from live state). */
export interface RunTask extends TaskBase {
  kind: 'run';
  /** In --check mode: 'skip' (default, the step changes things) or 'run' (read-only step). */
  inCheckMode?: 'skip' | 'run';
  run(ctx: TaskContext): Promise<RunOutcome>;
}

/** Runs the handlers notified so far on this host, now rather than at the end of the play. */
export interface FlushTask {
  kind: 'flush';
  name: string;
  tags?: string[];
}

export type Task = OpTask | RunTask | FlushTask;

export { TaskError } from '../core/errors.ts';
