/**
 * Runs every op fixture (test/30-ops/fixtures/<op>/<case>.yaml, format in op-fixtures.ts):
 * builds the op, plans it with the recorded probe, compares the commands it returns (data,
 * not a recording), runs them over a transport that answers from the fixture, and plans again
 * with the probe after the change: the second run yields no command. Every script parses as
 * POSIX sh (dash -n).
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { Secret } from '../../src/core/secret.ts';
import type { OpCommand, OpPlan, OpTask, RunTask } from '../../src/engine/types.ts';
import { runOpCommands } from '../../src/engine/op-commands.ts';
import { runCustom } from '../../src/engine/run-task.ts';
import { OPS, answerFrom, buildOp, loadFixtures, type Fixture } from './op-fixtures.ts';
import { RecordingTransport, fakeFacts, makeCtx } from './helpers.ts';

const fixtures = loadFixtures();

function assertSh(script: string): void {
  const r = spawnSync('dash', ['-n'], { input: script });
  expect(r.status, `${script}\n${r.stderr}`).toBe(0);
}

function stdinText(s: OpCommand['stdin']): string | undefined {
  if (s === undefined) return undefined;
  return s instanceof Secret ? s.reveal() : s.toString();
}

/** A command as fixtures write it: script, and stdin when there is one. */
function asExpected(c: OpCommand): { script: string; stdin?: string } {
  const stdin = stdinText(c.stdin);
  return { script: c.script, ...(stdin !== undefined ? { stdin } : {}) };
}

interface Outcome {
  plan?: OpPlan;
  error?: string;
  /** What reached the host after planning (the commands, unless in check mode). */
  sent: { script: string; stdin: string }[];
  warnings: string[];
  message?: string;
}

function contextFor(f: Fixture, check: boolean) {
  const t = new RecordingTransport(answerFrom(f.execs, 'recorded'));
  const tc = makeCtx(t, { check, diff: f.diff, facts: fakeFacts(f.facts) });
  return { t, ...tc };
}

async function settle(op: OpTask, f: Fixture): Promise<Outcome> {
  assertSh(op.probe ?? '');
  const { t, ctx, warnings } = contextFor(f, f.check);
  let plan: OpPlan | undefined;
  let before = 0;
  try {
    plan = await op.plan({ code: f.probe.code, stdout: f.probe.stdout }, ctx);
    before = t.calls.length;
    if (plan.change) {
      if (!ctx.check) await runOpCommands(ctx, plan.commands);
    }
  } catch (e) {
    return { ...(plan ? { plan } : {}), error: (e as Error).message, sent: t.calls.slice(before), warnings };
  }
  return { plan, sent: t.calls.slice(before), warnings };
}

async function settleRun(task: RunTask, f: Fixture): Promise<Outcome> {
  const { ctx, warnings } = contextFor({ ...f, execs: [{ match: '', ...f.probe, timeout: false }, ...f.execs] }, f.check);
  const r = await runCustom(ctx, task);
  if (r.status === 'failed') return { error: r.error, sent: [], warnings };
  if (r.status === 'changed') throw new Error(`waitFor changed: ${r.summary}`);
  return { sent: [], warnings, ...(r.status === 'ok' && r.message ? { message: r.message } : {}) };
}

describe.each(Object.keys(OPS))('op fixtures: %s', (opName) => {
  const cases = fixtures.filter((c) => c.op === opName);

  it('has a no-change, a change and an error case', () => {
    const kinds = new Set(cases.map((c) => ('commands' in c.fixture.expect ? 'change' : 'noChange' in c.fixture.expect ? 'noChange' : 'error')));
    // waitFor only reads: it never changes anything.
    expect([...kinds].sort()).toEqual(opName === 'waitFor' ? ['error', 'noChange'] : ['change', 'error', 'noChange']);
  });

  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, { fixture: f }) => {
    let task: OpTask | RunTask;
    try {
      task = buildOp(opName, f.args);
    } catch (e) {
      // A wrong argument is refused when the task is built.
      expect('error' in f.expect && (e as Error).message).toContain('error' in f.expect ? f.expect.error : '(no error expected)');
      return;
    }
    const got = task.kind === 'op' ? await settle(task, f) : await settleRun(task, f);
    const want = f.expect;
    expect(got.warnings).toEqual(want.warnings);

    if ('error' in want) {
      expect(got.error, f.description).toBeDefined();
      expect(got.error).toContain(want.error);
      return;
    }
    expect(got.error, f.description).toBeUndefined();

    if ('noChange' in want) {
      if (task.kind === 'run') expect(got.message).toBe(want.message);
      else expect(got.plan).toEqual({ change: false, ...(want.message !== undefined ? { message: want.message } : {}) });
      expect(got.sent).toEqual([]);
      return;
    }

    const plan = got.plan!;
    if (!plan.change) throw new Error('expected a change');
    expect(plan.summary).toBe(want.summary);
    expect(plan.diff).toBe(want.diff);
    expect(plan.commands.map(asExpected)).toEqual(want.commands);
    for (const c of plan.commands) assertSh(c.script);
    // The commands are what reaches the host, in order (nothing in check mode).
    expect(got.sent).toEqual(f.check ? [] : plan.commands.map((c) => ({ script: c.script, stdin: stdinText(c.stdin) ?? '' })));

    // The second run yields no command.
    if (f.probeAfter) {
      const { ctx } = contextFor(f, false);
      const again = await (task as OpTask).plan(f.probeAfter, ctx);
      expect(again.change, `${f.description}: planning again after the change`).toBe(false);
    }
  });
});

it('every fixture folder names an op', () => {
  expect(fixtures.map((c) => c.op).filter((op) => !(op in OPS))).toEqual([]);
});
