/**
 * Our inventory form (hosts.yml, or inventory.ts through defineInventory): zod schemas, the
 * typed input, and the translation of zod issues into file/host/group/field problems.
 */
import { z } from 'zod';
import { describeValue, type InventoryProblem } from './errors.ts';
import { didYouMean } from './suggest.ts';
import { JUMP_SPEC_HELP, parseJump } from './jump.ts';
import { HostAddress } from '../core/net.ts';

const VarsSchema = z.record(z.string(), z.unknown());

const connectionFields = {
  user: z.string().min(1),
  port: z.number().int().min(1).max(65535),
  /** Relative paths resolve against the inventory directory; `~` expands. */
  privateKey: z.string().min(1),
  knownHosts: z.string().min(1),
  become: z.boolean(),
  connectTimeoutMs: z.number().int().positive(),
  /** A jump host, `[user@]host[:port]` (OpenSSH's ProxyJump). */
  proxyJump: z.string().refine((s) => parseJump(s) !== undefined, { message: JUMP_SPEC_HELP }),
};

export const ConnectionDefaultsSchema = z.strictObject(connectionFields).partial();

export const HostEntrySchema = z
  .strictObject({
    /** An IPv4/IPv6 address or a DNS host name (validated as one). */
    address: HostAddress,
    transport: z.enum(['ssh', 'local']),
    ...connectionFields,
    vars: VarsSchema,
  })
  .partial()
  .nullable();

export const GroupEntrySchema = z
  .strictObject({
    hosts: z.array(z.string()),
    children: z.array(z.string()),
    vars: VarsSchema,
  })
  .partial()
  .nullable();

export const InventoryFileSchema = z.strictObject({
  connection: ConnectionDefaultsSchema.optional(),
  vars: VarsSchema.optional(),
  hosts: z.record(z.string(), HostEntrySchema),
  groups: z.record(z.string(), GroupEntrySchema).optional(),
});

/** What `defineInventory` accepts and an inventory.ts default-exports. */
export type InventoryInput = z.input<typeof InventoryFileSchema>;
export type InventoryFile = z.output<typeof InventoryFileSchema>;
export type HostEntry = NonNullable<z.output<typeof HostEntrySchema>>;
export type GroupEntry = NonNullable<z.output<typeof GroupEntrySchema>>;

const KEYS_AT: Record<string, string[]> = {
  root: Object.keys(InventoryFileSchema.shape),
  connection: Object.keys(connectionFields),
  host: ['address', 'transport', ...Object.keys(connectionFields), 'vars'],
  group: ['hosts', 'children', 'vars'],
};

/** Turns zod issues into problems that name the file, the host or group, and the field. */
export function schemaProblems(file: string, data: unknown, issues: readonly z.core.$ZodIssue[]): InventoryProblem[] {
  const out: InventoryProblem[] = [];
  for (const issue of issues) {
    const path = issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p));
    const where = locate(path);
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        out.push({
          file,
          ...where.scope,
          field: joinField([...where.rest, key]),
          detail: `unknown key${didYouMean(key, KEYS_AT[where.kind] ?? [])}`,
        });
      }
      continue;
    }
    const got = valueAt(data, path);
    let detail: string;
    if (issue.code === 'invalid_type') {
      const expected = EXPECTED_WORDS[issue.expected] ?? issue.expected;
      detail = got === undefined ? `missing (expected ${expected})` : `expected ${expected}, got ${describeValue(got)}`;
    } else if (issue.code === 'invalid_value') {
      detail = `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}, got ${describeValue(got)}`;
    } else if (issue.code === 'too_small' || issue.code === 'too_big') {
      detail = `${issue.message.replace(/^Too (small|big): expected \S+ to (have|be) /i, 'expected ')}, got ${describeValue(got)}`;
    } else {
      detail = issue.message;
    }
    out.push({ file, ...where.scope, field: joinField(where.rest) || undefined, detail });
  }
  return out;
}

const EXPECTED_WORDS: Record<string, string> = { object: 'a mapping', record: 'a mapping', array: 'a list' };

type Located = { kind: string; scope: { host?: string; group?: string }; rest: Array<string | number> };

function locate(path: Array<string | number>): Located {
  const [top, name, ...rest] = path;
  if (top === 'hosts' && typeof name === 'string') return { kind: 'host', scope: { host: name }, rest };
  if (top === 'groups' && typeof name === 'string') return { kind: 'group', scope: { group: name }, rest };
  if (top === 'connection' && path.length >= 1) return { kind: 'connection', scope: {}, rest: path };
  return { kind: path.length === 0 ? 'root' : 'other', scope: {}, rest: path };
}

/** ['vars', 'patroni', 'ttl'] -> vars.patroni.ttl; ['hosts', 1] -> hosts[1] */
export function joinField(path: ReadonlyArray<string | number>): string {
  let s = '';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s ? `.${p}` : p;
  return s;
}

function valueAt(data: unknown, path: ReadonlyArray<string | number>): unknown {
  let cur = data;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string | number, unknown>)[p];
  }
  return cur;
}
