/**
 * What every op shares: the common task options, the default-name helper, spec validation
 * with readable errors, and the text helpers for names and messages.
 */
import { z } from 'zod';
import type { TaskContext } from '../engine/types.ts';

export interface OpCommon {
  /** Overrides the derived name ("file /etc/x", "service patroni (started)"). */
  name?: string;
  notify?: string[];
  tags?: string[];
  when?: (ctx: TaskContext) => boolean;
  mayFail?: boolean;
}

/** The TaskBase fields of an op, with only the keys the caller set. */
export function taskBase(o: OpCommon, defaultName: string) {
  return {
    name: o.name ?? defaultName,
    ...(o.notify ? { notify: o.notify } : {}),
    ...(o.tags ? { tags: o.tags } : {}),
    ...(o.when ? { when: o.when } : {}),
    ...(o.mayFail !== undefined ? { mayFail: o.mayFail } : {}),
  };
}

/** A wrong op argument, found when the task list is built: before any host is touched. */
export class OpSpecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OpSpecError';
  }
}

/** Parses an op's options with its schema; throws OpSpecError naming the op and the field. */
export function parseSpec<S extends z.ZodType>(op: string, schema: S, input: unknown): z.output<S> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => `${i.path.length ? `${i.path.join('.')}: ` : ''}${i.message}`);
  throw new OpSpecError(`${op}: ${issues.join('; ')}`);
}

export const AbsolutePath = z
  .string()
  .regex(/^\/[^\0\n]*$/, 'expected an absolute path without newlines')
  .refine((p) => p.replace(/\/+$/, '') !== '', 'refusing to manage /');

/** '0640', '640', '2750': octal permission bits. */
export const ModeString = z.string().regex(/^0?[0-7]{3,4}$/, "expected an octal mode such as '0640'");

/** Owner or group: a name or a numeric id. */
export const AccountName = z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]*\$?$/, 'expected a user/group name or numeric id');

export function modeBits(mode: string): number {
  return parseInt(mode, 8);
}

/** Four-digit octal, as users write it: 0640. */
export function formatMode(bits: number): string {
  return bits.toString(8).padStart(4, '0');
}

export { tailLines } from '../engine/op-commands.ts';

/** First line of a command, shortened, for names and messages. */
export function commandHead(cmd: string, max = 60): string {
  const first = cmd.trim().split('\n')[0] ?? '';
  const more = first.length > max || cmd.trim().includes('\n');
  return more ? `${first.slice(0, max)}…` : first;
}

/** Common options of ops whose `name` is the managed object (unit, user, group). */
export type NamedOpCommon = Omit<OpCommon, 'name'> & { /** Overrides the derived task name. */ taskName?: string };

export function namedTaskBase(o: NamedOpCommon, defaultName: string) {
  const { taskName, notify, tags, when, mayFail } = o;
  return taskBase({ ...(taskName !== undefined ? { name: taskName } : {}), ...(notify ? { notify } : {}), ...(tags ? { tags } : {}), ...(when ? { when } : {}), ...(mayFail !== undefined ? { mayFail } : {}) }, defaultName);
}
