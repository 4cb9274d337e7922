/**
 * The op fixture format (test/30-ops/fixtures/<op>/<case>.yaml), after pyinfra's
 * tests/operations: an op's arguments, the facts and flags it runs with, the probe output
 * recorded on a real host, and what must come of it: the commands (as data) and summary, no
 * change, or an error. A change names `probeAfter`, the probe once the change is applied, and
 * planning with it must change nothing (or says why the op changes on every run).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';
import { Secret } from '../../src/core/secret.ts';
import type { OpTask, RunTask } from '../../src/engine/types.ts';
import { TransportError, type ExecResult } from '../../src/transport/types.ts';
import { command, directory, file, group, kernelModule, packages, service, sysctl, user, waitFor } from '../../src/ops/index.ts';

export const FIXTURES_DIR = join(import.meta.dirname, 'fixtures');

/** Every op of src/ops/index.ts, by the folder name of its fixtures. */
export const OPS: Record<string, (args: never) => OpTask | RunTask> = { file, directory, packages, service, user, group, command, sysctl, kernelModule, waitFor };

const Output = z.strictObject({ code: z.number().int().default(0), stdout: z.string().default(''), stderr: z.string().default('') });
const Expected = z.strictObject({ script: z.string(), stdin: z.string().optional() });
const Warnings = { warnings: z.array(z.string()).default([]) };

export const Fixture = z
  .strictObject({
    description: z.string(),
    /** The op's options; `{ $secret: "..." }` is a Secret. */
    args: z.record(z.string(), z.unknown()),
    /** Overrides of the placeholder facts (a Debian 12 VM). */
    facts: z.record(z.string(), z.unknown()).default({}),
    check: z.boolean().default(false),
    diff: z.boolean().default(false),
    /** What the probe printed (waitFor: what its one exec printed). */
    probe: Output,
    /** Answers to the other execs (plan-time reads, the commands): first `match` (substring) wins; default exit 0, no output. */
    execs: z.array(Output.extend({ match: z.string(), timeout: z.boolean().default(false) })).default([]),
    expect: z.union([
      z.strictObject({ commands: z.array(Expected), summary: z.string(), diff: z.string().optional(), ...Warnings }),
      z.strictObject({ noChange: z.literal(true), message: z.string().optional(), ...Warnings }),
      z.strictObject({ error: z.string(), ...Warnings }),
    ]),
    probeAfter: Output.omit({ stderr: true }).optional(),
    /** Instead of probeAfter: why this op changes on every run (a command without a guard). */
    alwaysChanges: z.string().optional(),
  })
  .superRefine((f, ctx) => {
    if ('commands' in f.expect && (f.probeAfter === undefined) === (f.alwaysChanges === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'a change names exactly one of probeAfter and alwaysChanges' });
    }
  });
export type Fixture = z.output<typeof Fixture>;

export interface LoadedFixture {
  op: string;
  name: string;
  fixture: Fixture;
}

export function loadFixtures(dir = FIXTURES_DIR): LoadedFixture[] {
  const out: LoadedFixture[] = [];
  for (const op of readdirSync(dir).sort()) {
    for (const f of readdirSync(join(dir, op)).filter((n) => n.endsWith('.yaml')).sort()) {
      const path = join(dir, op, f);
      const r = Fixture.safeParse(parse(readFileSync(path, 'utf8')));
      if (!r.success) throw new Error(`${path}: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
      out.push({ op, name: basename(f, '.yaml'), fixture: r.data });
    }
  }
  return out;
}

/** `{ $secret: "x" }` anywhere in the arguments becomes a Secret. */
export function reviveArgs(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(reviveArgs);
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if (Object.keys(o).length === 1 && typeof o.$secret === 'string') return new Secret(o.$secret);
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, reviveArgs(x)]));
  }
  return v;
}

export function buildOp(op: string, args: Record<string, unknown>): OpTask | RunTask {
  const make = OPS[op];
  if (!make) throw new Error(`no op named ${op} (fixtures folder ${op})`);
  return make(reviveArgs(args) as never);
}

/** The transport's answer to an exec, from the fixture's `execs` (a timeout throws as the transport would). */
export function answerFrom(execs: Fixture['execs'], host: string): (script: string) => ExecResult {
  return (script) => {
    const hit = execs.find((e) => script.includes(e.match));
    if (hit?.timeout) throw new TransportError('timeout', host, 'command timed out');
    return hit ? { code: hit.code, stdout: hit.stdout, stderr: hit.stderr } : { code: 0, stdout: '', stderr: '' };
  };
}
