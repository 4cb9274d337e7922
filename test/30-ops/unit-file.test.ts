import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, existsSync, lstatSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { file, directory, OpSpecError } from '../../src/ops/index.ts';
import { ShTransport, converge, makeCtx } from './helpers.ts';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'rigger-ops-file-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const mode = (p: string) => statSync(p).mode & 0o7777;

describe('file', () => {
  it('creates, then reports ok, with byte-exact content and the wanted mode', async () => {
    const t = new ShTransport();
    const { ctx } = makeCtx(t);
    const p = join(dir, 'a.conf');
    const content = 'line one\n  indented  \nno newline at end';
    const r1 = await converge(ctx, file({ path: p, content, mode: '0640' }));
    expect(r1).toMatchObject({ status: 'changed' });
    expect(r1.status === 'changed' && r1.summary).toContain('create');
    expect(readFileSync(p, 'utf8')).toBe(content);
    expect(mode(p)).toBe(0o640);
    const r2 = await converge(ctx, file({ path: p, content, mode: '640' }));
    expect(r2).toEqual({ status: 'ok' });
    // no temp files left next to the target
    expect(readdirSync(dir).filter((n) => n.includes('rigger'))).toEqual([]);
  });

  it('treats a trailing newline as a difference (no trimming)', async () => {
    const { ctx } = makeCtx(new ShTransport());
    const p = join(dir, 'b.conf');
    writeFileSync(p, 'x');
    const r = await converge(ctx, file({ path: p, content: 'x\n' }));
    expect(r).toMatchObject({ status: 'changed', summary: 'content (1 -> 2 bytes)' });
    expect(readFileSync(p, 'utf8')).toBe('x\n');
  });

  it('changes only the mode when the content is right, and keeps the mode when rewriting content', async () => {
    const t = new ShTransport();
    const { ctx } = makeCtx(t);
    const p = join(dir, 'c.conf');
    writeFileSync(p, 'same\n');
    chmodSync(p, 0o600);
    const before = statSync(p).ino;
    const r = await converge(ctx, file({ path: p, content: 'same\n', mode: '0644' }));
    expect(r).toMatchObject({ status: 'changed', summary: 'mode 0600 -> 0644' });
    expect(statSync(p).ino).toBe(before); // not rewritten
    expect(mode(p)).toBe(0o644);
    chmodSync(p, 0o604);
    await converge(ctx, file({ path: p, content: 'other\n' }));
    expect(mode(p)).toBe(0o604);
    expect(statSync(p).ino).not.toBe(before); // replaced by rename
  });

  it('check mode reports the change and leaves the file untouched', async () => {
    const { ctx } = makeCtx(new ShTransport(), { check: true, diff: true });
    const p = join(dir, 'd.conf');
    writeFileSync(p, 'a\nb\nc\n');
    const r = await converge(ctx, file({ path: p, content: 'a\nB\nc\n', mode: '0600' }));
    expect(r.status).toBe('changed');
    if (r.status !== 'changed') return;
    expect(r.summary).toContain('content');
    expect(r.summary).toContain('mode 0644 -> 0600');
    expect(r.diff).toBe([`--- ${p} (current)`, `+++ ${p} (wanted)`, '@@ -1,3 +1,3 @@', ' a', '-b', '+B', ' c', ''].join('\n'));
    expect(readFileSync(p, 'utf8')).toBe('a\nb\nc\n');
    expect(mode(p)).toBe(0o644);
    // a missing file in check mode is not created either
    const q = join(dir, 'never.conf');
    const r2 = await converge(ctx, file({ path: q, content: 'x\n' }));
    expect(r2).toMatchObject({ status: 'changed' });
    expect(r2.status === 'changed' && r2.diff).toContain('@@ -0,0 +1,1 @@\n+x');
    expect(existsSync(q)).toBe(false);
  });

  it('hides the content of sensitive files in the diff', async () => {
    const { ctx } = makeCtx(new ShTransport(), { diff: true, check: true });
    const p = join(dir, 'secret.conf');
    writeFileSync(p, 'password=old\n');
    const r = await converge(ctx, file({ path: p, content: 'password=new\n', sensitive: true }));
    expect(r.status === 'changed' && r.diff).toContain('(content hidden: sensitive)');
    expect(JSON.stringify(r)).not.toContain('password');
  });

  it('does not fetch content when --diff is off (one probe exec only)', async () => {
    const t = new ShTransport();
    const { ctx } = makeCtx(t, { check: true });
    const p = join(dir, 'e.conf');
    writeFileSync(p, 'old\n');
    const r = await converge(ctx, file({ path: p, content: 'new\n' }));
    expect(r.status === 'changed' && r.diff).toBe(undefined);
    expect(t.stats.execs).toBe(1);
  });

  it('says binary content differs instead of printing bytes', async () => {
    const { ctx } = makeCtx(new ShTransport(), { diff: true, check: true });
    const p = join(dir, 'bin.dat');
    writeFileSync(p, Buffer.from([0, 1, 2, 255]));
    const r = await converge(ctx, file({ path: p, content: Buffer.from([0, 1, 3, 255]) }));
    expect(r.status === 'changed' && r.diff).toContain('(binary content differs)');
  });

  it('writes binary content exactly', async () => {
    const { ctx } = makeCtx(new ShTransport());
    const p = join(dir, 'bin2.dat');
    const bytes = Buffer.from([0, 0xff, 0xfe, 10, 13, 0x80]);
    await converge(ctx, file({ path: p, content: bytes }));
    expect(readFileSync(p).equals(bytes)).toBe(true);
    expect(await converge(ctx, file({ path: p, content: bytes }))).toEqual({ status: 'ok' });
  });

  it('validates the temp file and leaves the target untouched when validation fails', async () => {
    const { ctx } = makeCtx(new ShTransport());
    const p = join(dir, 'v.conf');
    writeFileSync(p, 'good\n');
    const bad = await converge(ctx, file({ path: p, content: 'bad\n', validate: "grep -q '^good' %s" }));
    expect(bad.status).toBe('failed');
    expect(bad.status === 'failed' && bad.error).toMatch(/validation failed \(exit 1\): grep -q '\^good' %s/);
    expect(readFileSync(p, 'utf8')).toBe('good\n');
    expect(readdirSync(dir).filter((n) => n.includes('rigger'))).toEqual([]);
    const ok = await converge(ctx, file({ path: p, content: 'good too\n', validate: "grep -q '^good' %s" }));
    expect(ok.status).toBe('changed');
    expect(readFileSync(p, 'utf8')).toBe('good too\n');
  });

  it('keeps shell metacharacters in paths and content literal', async () => {
    const { ctx } = makeCtx(new ShTransport());
    const p = join(dir, "it's $HOME `x` ;.conf");
    const content = "$(touch /tmp/rigger-pwned) 'q' \"dq\" \\ \n";
    expect((await converge(ctx, file({ path: p, content }))).status).toBe('changed');
    expect(readFileSync(p, 'utf8')).toBe(content);
    expect(existsSync('/tmp/rigger-pwned')).toBe(false);
  });

  it('fails clearly when the parent directory is missing', async () => {
    const { ctx } = makeCtx(new ShTransport());
    const r = await converge(ctx, file({ path: join(dir, 'nope', 'x.conf'), content: 'x' }));
    expect(r.status === 'failed' && r.error).toContain(`parent directory ${join(dir, 'nope')} does not exist`);
  });

  it('replaces a symlink with a file instead of writing through it', async () => {
    const { ctx } = makeCtx(new ShTransport());
    const target = join(dir, 'link-target');
    const link = join(dir, 'link');
    writeFileSync(target, 'target\n');
    symlinkSync(target, link);
    const r = await converge(ctx, file({ path: link, content: 'own\n' }));
    expect(r).toMatchObject({ status: 'changed' });
    expect(r.status === 'changed' && r.summary).toContain('replace symlink');
    expect(lstatSync(link).isSymbolicLink()).toBe(false);
    expect(readFileSync(target, 'utf8')).toBe('target\n');
  });

  it('removes a file with state absent, and is ok when it is gone', async () => {
    const { ctx } = makeCtx(new ShTransport());
    const p = join(dir, 'gone.conf');
    writeFileSync(p, 'x');
    expect(await converge(ctx, file({ path: p, state: 'absent' }))).toMatchObject({ status: 'changed', summary: 'remove (1 bytes)' });
    expect(existsSync(p)).toBe(false);
    expect(await converge(ctx, file({ path: p, state: 'absent' }))).toEqual({ status: 'ok' });
  });

  it('refuses a directory at the path', async () => {
    const { ctx } = makeCtx(new ShTransport());
    const r = await converge(ctx, file({ path: dir, content: 'x' }));
    expect(r.status === 'failed' && r.error).toBe(`${dir} is a directory, not a file`);
  });

  it('changes the owner by name or id and compares numerically', async () => {
    const { ctx } = makeCtx(new ShTransport());
    const p = join(dir, 'owned.conf');
    writeFileSync(p, 'x');
    expect(await converge(ctx, file({ path: p, owner: 'root', group: '0' }))).toEqual({ status: 'ok' });
    const r = await converge(ctx, file({ path: p, owner: 'nobody' }));
    expect(r).toMatchObject({ status: 'changed', summary: 'owner root -> nobody' });
    expect(statSync(p).uid).toBe(65534);
    expect(await converge(ctx, file({ path: p, owner: '65534' }))).toEqual({ status: 'ok' });
  });

  it('rejects wrong arguments before touching any host', () => {
    expect(() => file({ path: 'relative/path', content: '' })).toThrow(OpSpecError);
    expect(() => file({ path: '/etc/x', mode: '0999' })).toThrow(/file: mode: expected an octal mode/);
    expect(() => file({ path: '/etc/x', validate: 'haproxy -c' })).toThrow(/validate: must contain %s/);
    expect(() => file({ path: '/' })).toThrow(/refusing to manage \//);
  });

  it('derives readable task names', () => {
    expect(file({ path: '/etc/patroni/patroni.yml', content: '' }).name).toBe('file /etc/patroni/patroni.yml');
    expect(file({ path: '/etc/x', state: 'absent' }).name).toBe('file /etc/x (absent)');
    expect(file({ path: '/etc/x', name: 'custom', notify: ['h'] })).toMatchObject({ name: 'custom', notify: ['h'] });
  });
});

describe('directory', () => {
  it('creates with parents, sets the mode, then is ok; check mode creates nothing', async () => {
    const p = join(dir, 'd1', 'd2');
    const check = makeCtx(new ShTransport(), { check: true }).ctx;
    expect(await converge(check, directory({ path: p, mode: '0750' }))).toMatchObject({ status: 'changed', summary: 'create (mode 0750)' });
    expect(existsSync(p)).toBe(false);
    const { ctx } = makeCtx(new ShTransport());
    expect((await converge(ctx, directory({ path: p, mode: '0750' }))).status).toBe('changed');
    expect(mode(p)).toBe(0o750);
    expect(await converge(ctx, directory({ path: `${p}/`, mode: '0750' }))).toEqual({ status: 'ok' });
    expect(await converge(ctx, directory({ path: p, mode: '0700' }))).toMatchObject({ status: 'changed', summary: 'mode 0750 -> 0700' });
    expect(mode(p)).toBe(0o700);
  });

  it('follows a symlink to a directory', async () => {
    const real = join(dir, 'real-dir');
    const link = join(dir, 'dir-link');
    mkdirSync(real, { mode: 0o755 });
    chmodSync(real, 0o755);
    symlinkSync(real, link);
    const { ctx } = makeCtx(new ShTransport());
    expect(await converge(ctx, directory({ path: link, mode: '0755' }))).toEqual({ status: 'ok' });
  });

  it('refuses a file at the path and removes a directory with state absent', async () => {
    const { ctx } = makeCtx(new ShTransport());
    const f = join(dir, 'plain');
    writeFileSync(f, '');
    expect((await converge(ctx, directory({ path: f }))).status).toBe('failed');
    const d = join(dir, 'to-remove');
    mkdirSync(join(d, 'sub'), { recursive: true });
    expect(await converge(ctx, directory({ path: d, state: 'absent' }))).toMatchObject({ status: 'changed' });
    expect(existsSync(d)).toBe(false);
    expect(await converge(ctx, directory({ path: d, state: 'absent' }))).toEqual({ status: 'ok' });
  });
});
