/**
 * The ops against a real OpenSSH server on loopback, as root and as a non-root user with
 * become (sudo): applied (changed), applied again (ok), and check mode leaving the host
 * untouched, asserting on the real state of this machine (which is the "host").
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSshd, sshdSkipReason } from '../support/sshd.ts';
import { SshTransport } from '../../src/transport/ssh.ts';
import { gatherFacts } from '../../src/facts/gather.ts';
import type { Host } from '../../src/inventory/types.ts';
import type { OpTask, TaskContext } from '../../src/engine/types.ts';
import { runCustom } from '../../src/engine/run-task.ts';
import { Secret } from '../../src/core/secret.ts';
import { command, directory, file, group, packages, user, waitFor } from '../../src/ops/index.ts';
import { TapTransport, converge, convergeBatch, makeCtx } from './helpers.ts';

const skip = sshdSkipReason();
if (skip && process.env.CI === 'true') throw new Error(`sshd tests cannot run in CI: ${skip}`);

type Sshd = Awaited<ReturnType<typeof startSshd>>;
let sshd: Sshd;
let dir: string;
const transports: SshTransport[] = [];
const suffix = `${process.pid % 10000}`;
const testUser = `rgtu${suffix}`;
const testGroup = `rgtg${suffix}`;

function sh(cmd: string): string {
  return execFileSync('/bin/sh', ['-c', cmd], { encoding: 'utf8' });
}
function installed(pkg: string): boolean {
  try {
    return /^install ok installed$/.test(sh(`dpkg-query -W -f='\${Status}' ${pkg} 2>/dev/null`));
  } catch {
    return false;
  }
}

async function tapFor(host: Host, opts: { check?: boolean; diff?: boolean } = {}): Promise<{ ctx: TaskContext; tap: TapTransport }> {
  const t = new SshTransport(host);
  await t.connect();
  transports.push(t);
  const facts = await gatherFacts(t);
  const tap = new TapTransport(t);
  return { ctx: makeCtx(tap, { ...opts, facts, host }).ctx, tap };
}

async function contextFor(host: Host, opts: { check?: boolean; diff?: boolean } = {}): Promise<TaskContext> {
  return (await tapFor(host, opts)).ctx;
}

describe.skipIf(skip !== null)('ops over ssh', () => {
  beforeAll(async () => {
    sshd = await startSshd();
    dir = mkdtempSync(join(tmpdir(), 'rigger-sshd-ops-'));
    sh(`chmod 0755 ${dir}`);
  }, 120_000);
  afterAll(async () => {
    for (const t of transports) await t.close().catch(() => {});
    await sshd?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
    sh(`userdel -r ${testUser} 2>/dev/null; userdel -r ${testUser}b 2>/dev/null; groupdel ${testGroup} 2>/dev/null; groupdel ${testGroup}b 2>/dev/null; true`);
  });

  const modes = [
    { as: 'root', host: () => sshd.host('root-host') },
    { as: 'sudo user (become)', host: () => sshd.host('user-host', { user: sshd.user, privateKey: sshd.userKey, become: true }) },
  ];

  for (const m of modes) {
    describe(m.as, () => {
      const tag = m.as === 'root' ? 'r' : 'u';

      it('file: changed, then ok; check mode leaves it alone; root-owned via become', async () => {
        const ctx = await contextFor(m.host());
        const check = await contextFor(m.host(), { check: true, diff: true });
        const p = join(dir, `${tag}-app.conf`);
        const op = () => file({ path: p, content: 'listen 5432\n', mode: '0640', owner: 'root', group: 'root' });
        expect(await converge(check, op())).toMatchObject({ status: 'changed' });
        expect(existsSync(p)).toBe(false);
        expect(await converge(ctx, op())).toMatchObject({ status: 'changed' });
        expect(readFileSync(p, 'utf8')).toBe('listen 5432\n');
        expect(statSync(p).mode & 0o7777).toBe(0o640);
        expect(statSync(p).uid).toBe(0);
        expect(await converge(ctx, op())).toEqual({ status: 'ok' });
        const r = await converge(check, file({ path: p, content: 'listen 6432\n', mode: '0640' }));
        expect(r.status === 'changed' && r.diff).toContain('-listen 5432\n+listen 6432');
        expect(readFileSync(p, 'utf8')).toBe('listen 5432\n');
      });

      it('directory and command: changed, ok, check mode untouched', async () => {
        const ctx = await contextFor(m.host());
        const check = await contextFor(m.host(), { check: true });
        const d = join(dir, `${tag}-data`, 'sub');
        expect((await converge(check, directory({ path: d, mode: '0700' }))).status).toBe('changed');
        expect(existsSync(d)).toBe(false);
        expect((await converge(ctx, directory({ path: d, mode: '0700' }))).status).toBe('changed');
        expect(statSync(d).mode & 0o7777).toBe(0o700);
        expect(await converge(ctx, directory({ path: d, mode: '0700' }))).toEqual({ status: 'ok' });

        const marker = join(d, 'initialised');
        const init = () => command({ cmd: `id -u > ${marker}`, creates: marker });
        expect((await converge(check, init())).status).toBe('changed');
        expect(existsSync(marker)).toBe(false);
        expect((await converge(ctx, init())).status).toBe('changed');
        expect(readFileSync(marker, 'utf8')).toBe('0\n'); // ran as root, also through sudo
        expect(await converge(ctx, init())).toMatchObject({ status: 'ok' });
      });

      it('group and user: created, ok again, check mode untouched; supplementary groups added', async () => {
        const ctx = await contextFor(m.host());
        const check = await contextFor(m.host(), { check: true });
        const g = tag === 'r' ? testGroup : `${testGroup}b`;
        const u = tag === 'r' ? testUser : `${testUser}b`;
        const ops = (): OpTask[] => [group({ name: g, system: true }), user({ name: u, system: true, shell: '/bin/sh', home: `/home/${u}`, groups: [g] })];
        const planned = await convergeBatch(check, ops());
        expect(planned.map((r) => r.status)).toEqual(['changed', 'changed']);
        expect(sh(`getent group ${g} || echo none`).trim()).toBe('none');
        for (const op of ops()) expect((await converge(ctx, op)).status).toBe('changed');
        expect(sh(`id -nG ${u}`).split(/\s+/)).toContain(g);
        expect(sh(`getent passwd ${u}`).trim().split(':')[6]).toBe('/bin/sh');
        expect(existsSync(`/home/${u}`)).toBe(true);
        expect(await convergeBatch(ctx, ops())).toEqual([{ status: 'ok' }, { status: 'ok' }]);
        expect(await converge(ctx, user({ name: u, shell: '/bin/bash' }))).toMatchObject({ status: 'changed', summary: 'shell /bin/sh -> /bin/bash' });
        expect(sh(`getent passwd ${u}`).trim().split(':')[6]).toBe('/bin/bash');
      });

      it('secrets in content reach the host through stdin only; a converged batch costs one round trip', async () => {
        const { ctx, tap } = await tapFor(m.host());
        const secret = new Secret(`pw-${tag}-Zq81x`);
        const ops = (): OpTask[] =>
          Array.from({ length: 10 }, (_, i) => file({ path: join(dir, `${tag}-many-${i}.conf`), content: `password = ${secret.reveal()}\n`, mode: '0600', sensitive: true }));
        for (const op of ops()) expect((await converge(ctx, op)).status).toBe('changed');
        expect(readFileSync(join(dir, `${tag}-many-3.conf`), 'utf8')).toBe(`password = ${secret.reveal()}\n`);
        expect(tap.scripts.join('\n')).not.toContain(secret.reveal());
        const before = tap.stats.execs;
        const again = await convergeBatch(ctx, ops());
        expect(again.every((r) => r.status === 'ok')).toBe(true);
        expect(tap.stats.execs - before).toBe(1);
      });

      it('waitFor runs on the host, in check mode too', async () => {
        const check = await contextFor(m.host(), { check: true });
        const r = await runCustom(check, waitFor({ tcp: { host: '127.0.0.1', port: sshd.port }, timeoutMs: 5000 }));
        expect(r.status).toBe('ok');
        const bad = await runCustom(check, waitFor({ command: 'test -e /nonexistent-rigger', timeoutMs: 500, intervalMs: 200 }));
        expect(bad.status === 'failed' && bad.error).toBe('timed out after 0.5s waiting for command: test -e /nonexistent-rigger; last seen: (exit 1)');
      });

      it('packages: check mode installs nothing; install, ok again, remove', async () => {
        const pkg = tag === 'r' ? 'hello' : 'sl';
        if (installed(pkg)) sh(`apt-get remove -y -q ${pkg} >/dev/null 2>&1`);
        const ctx = await contextFor(m.host());
        const check = await contextFor(m.host(), { check: true });
        expect(await converge(check, packages({ names: [pkg] }))).toMatchObject({ status: 'changed', summary: `install ${pkg}` });
        expect(installed(pkg)).toBe(false);
        const r = await converge(ctx, packages({ names: [pkg] }));
        expect(r.status, JSON.stringify(r)).toBe('changed');
        expect(installed(pkg)).toBe(true);
        expect(await converge(ctx, packages({ names: [pkg] }))).toEqual({ status: 'ok' });
        expect(await converge(ctx, packages({ names: [pkg], state: 'absent' }))).toMatchObject({ status: 'changed', summary: `remove ${pkg}` });
        expect(installed(pkg)).toBe(false);
        expect(await converge(ctx, packages({ names: [pkg], state: 'absent' }))).toEqual({ status: 'ok' });
      }, 300_000);
    });
  }
});

if (skip !== null) {
  describe('ops over ssh', () => {
    it.skip(`skipped: ${skip}`, () => {});
  });
}
