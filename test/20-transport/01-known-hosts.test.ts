/**
 * known_hosts parsing and matching: plain, hashed, [host]:port, wildcards and negation,
 * changed and revoked keys; cross-checked against OpenSSH's own ssh-keygen where it can be.
 */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  appendKnownHost,
  checkHostKey,
  fingerprint,
  hostFieldMatches,
  keyTypeOf,
  knownHostsLines,
  knownKeyTypes,
  lookupNames,
  parseKnownHosts,
  readKnownHosts,
  usesHashedNames,
} from '../../src/transport/known-hosts.ts';

/** An ed25519 public key blob in SSH wire format (string "ssh-ed25519", string key). */
function ed25519Blob(): Buffer {
  const { publicKey } = generateKeyPairSync('ed25519');
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url');
  const field = (b: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(b.length);
    return Buffer.concat([len, b]);
  };
  return Buffer.concat([field(Buffer.from('ssh-ed25519')), field(raw)]);
}

const keyA = ed25519Blob();
const keyB = ed25519Blob();
const b64 = (k: Buffer) => k.toString('base64');
const hasKeygen = existsSync('/usr/bin/ssh-keygen');

describe('parseKnownHosts', () => {
  it('reads entries, markers and line numbers; skips comments, blanks and garbage', () => {
    const text = [
      '# a comment',
      '',
      `pg1,10.213.7.5 ssh-ed25519 ${b64(keyA)} root@pg1`,
      'broken-line-without-key',
      `@revoked * ssh-ed25519 ${b64(keyB)}`,
      `@cert-authority *.example.com ssh-ed25519 ${b64(keyB)}`,
      `@unknown-marker pg9 ssh-ed25519 ${b64(keyB)}`,
    ].join('\n');
    const entries = parseKnownHosts(text);
    expect(entries.map((e) => [e.line, e.marker, e.hosts])).toEqual([
      [3, null, 'pg1,10.213.7.5'],
      [5, 'revoked', '*'],
      [6, 'cert-authority', '*.example.com'],
    ]);
    expect(entries[0]!.key.equals(keyA)).toBe(true);
    expect(entries[0]!.keyType).toBe('ssh-ed25519');
  });
});

describe('matching names', () => {
  it('uses the bare name on port 22 and [name]:port otherwise, lowercased, deduplicated', () => {
    expect(lookupNames(22, '10.213.7.5', 'PG1')).toEqual(['10.213.7.5', 'pg1']);
    expect(lookupNames(2222, '10.213.7.5', 'pg1')).toEqual(['[10.213.7.5]:2222', '[pg1]:2222']);
    expect(lookupNames(22, 'pg1', 'pg1')).toEqual(['pg1']);
  });

  it('matches plain lists, wildcards and negations like OpenSSH', () => {
    expect(hostFieldMatches('pg1,10.213.7.5', 'pg1')).toBe(true);
    expect(hostFieldMatches('pg1,10.213.7.5', 'pg2')).toBe(false);
    expect(hostFieldMatches('PG1', 'pg1')).toBe(true);
    expect(hostFieldMatches('10.213.7.*', '10.213.7.7')).toBe(true);
    expect(hostFieldMatches('10.213.7.*,!10.213.7.9', '10.213.7.9')).toBe(false);
    expect(hostFieldMatches('pg?', 'pg1')).toBe(true);
    expect(hostFieldMatches('pg?', 'pg10')).toBe(false);
    // port forms are literal: a port-22 entry does not cover another port and vice versa
    expect(hostFieldMatches('[10.213.7.5]:2222', '[10.213.7.5]:2222')).toBe(true);
    expect(hostFieldMatches('10.213.7.5', '[10.213.7.5]:2222')).toBe(false);
    expect(hostFieldMatches('[10.213.7.5]:2222', '10.213.7.5')).toBe(false);
  });

  it('matches hashed names (HMAC-SHA1 with the stored salt)', () => {
    const [line] = knownHostsLines(['[pg1]:2222'], keyA, true);
    const [entry] = parseKnownHosts(line!);
    expect(entry!.hosts).toMatch(/^\|1\|[A-Za-z0-9+/=]+\|[A-Za-z0-9+/=]+$/);
    expect(hostFieldMatches(entry!.hosts, '[pg1]:2222')).toBe(true);
    expect(hostFieldMatches(entry!.hosts, 'pg1')).toBe(false);
    expect(hostFieldMatches('|1|garbage', 'pg1')).toBe(false);
  });
});

describe('checkHostKey', () => {
  const text = [
    `pg1,10.213.7.5 ssh-ed25519 ${b64(keyA)}`,
    `[10.213.7.6]:2222 ssh-ed25519 ${b64(keyB)}`,
    ...knownHostsLines(['pg3'], keyA, true),
  ].join('\n');
  const entries = parseKnownHosts(text);

  it('knows a key listed under the address or the inventory name', () => {
    expect(checkHostKey(entries, lookupNames(22, '10.213.7.5', 'whatever'), keyA)).toEqual({ status: 'known', line: 1 });
    expect(checkHostKey(entries, lookupNames(22, '192.168.1.1', 'pg1'), keyA)).toEqual({ status: 'known', line: 1 });
    expect(checkHostKey(entries, lookupNames(2222, '10.213.7.6', 'pg2'), keyB).status).toBe('known');
    expect(checkHostKey(entries, lookupNames(22, '10.213.7.7', 'pg3'), keyA).status).toBe('known');
  });

  it('reports an unknown host, including a known address on another port', () => {
    expect(checkHostKey(entries, lookupNames(22, '10.213.7.9', 'pg9'), keyA)).toEqual({ status: 'unknown' });
    expect(checkHostKey(entries, lookupNames(2200, '10.213.7.5', 'x'), keyA)).toEqual({ status: 'unknown' });
  });

  it('reports a changed key with what was expected', () => {
    const v = checkHostKey(entries, lookupNames(22, '10.213.7.5', 'pg1'), keyB);
    expect(v).toEqual({
      status: 'mismatch',
      revoked: false,
      expected: [{ line: 1, keyType: 'ssh-ed25519', fingerprint: fingerprint(keyA) }],
    });
    expect(checkHostKey(entries, lookupNames(22, '10.213.7.7', 'pg3'), keyB).status).toBe('mismatch');
  });

  it('refuses a @revoked key even when another line lists it', () => {
    const withRevoked = parseKnownHosts(`${text}\n@revoked * ssh-ed25519 ${b64(keyA)}`);
    const v = checkHostKey(withRevoked, lookupNames(22, '10.213.7.5', 'pg1'), keyA);
    expect(v.status).toBe('mismatch');
    expect(v.status === 'mismatch' && v.revoked).toBe(true);
  });

  it('ignores @cert-authority lines for plain host keys', () => {
    const ca = parseKnownHosts(`@cert-authority pg1 ssh-ed25519 ${b64(keyB)}`);
    expect(checkHostKey(ca, ['pg1'], keyA)).toEqual({ status: 'unknown' });
  });

  it('lists the key types known for a host', () => {
    expect(knownKeyTypes(entries, lookupNames(22, '10.213.7.5', 'pg1'))).toEqual(['ssh-ed25519']);
    expect(knownKeyTypes(entries, ['nobody'])).toEqual([]);
  });
});

describe('key helpers', () => {
  it('reads the key type from the blob', () => {
    expect(keyTypeOf(keyA)).toBe('ssh-ed25519');
    expect(keyTypeOf(Buffer.from([0, 0]))).toBe('unknown');
  });

  it('writes plain lines for plain files and hashed lines for hashed files', () => {
    expect(knownHostsLines(['[10.213.7.5]:2222', '[pg1]:2222'], keyA, false)).toEqual([`[10.213.7.5]:2222,[pg1]:2222 ssh-ed25519 ${b64(keyA)}`]);
    const hashed = knownHostsLines(['a', 'b'], keyA, true);
    expect(hashed).toHaveLength(2);
    expect(usesHashedNames(parseKnownHosts(hashed.join('\n')))).toBe(true);
    expect(usesHashedNames(parseKnownHosts(`pg1 ssh-ed25519 ${b64(keyA)}`))).toBe(false);
  });
});

describe.skipIf(!hasKeygen && process.env.CI !== 'true')('agreement with OpenSSH ssh-keygen', () => {
  it('computes the same fingerprint and finds our hashed lines; we find its hashed lines', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rigger-kh-'));
    try {
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'k')]);
      const [type, blob64] = readFileSync(join(dir, 'k.pub'), 'utf8').split(/\s+/);
      const blob = Buffer.from(blob64!, 'base64');
      expect(type).toBe('ssh-ed25519');
      const theirs = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', join(dir, 'k.pub')], { encoding: 'utf8' });
      expect(theirs).toContain(fingerprint(blob));

      // our hashed line, found by ssh-keygen -F
      writeFileSync(join(dir, 'ours'), `${knownHostsLines(['[pg1.example.com]:2222'], blob, true).join('\n')}\n`);
      const found = execFileSync('ssh-keygen', ['-F', '[pg1.example.com]:2222', '-f', join(dir, 'ours')], { encoding: 'utf8' });
      expect(found).toContain(blob64);

      // ssh-keygen -H hashes a plain file; we still match it
      writeFileSync(join(dir, 'theirs'), `pg2,[10.1.2.3]:2200 ${type} ${blob64}\n`);
      execFileSync('ssh-keygen', ['-H', '-f', join(dir, 'theirs')], { stdio: 'ignore' });
      const hashed = parseKnownHosts(readFileSync(join(dir, 'theirs'), 'utf8'));
      expect(usesHashedNames(hashed)).toBe(true);
      expect(checkHostKey(hashed, lookupNames(22, '10.9.9.9', 'pg2'), blob).status).toBe('known');
      expect(checkHostKey(hashed, lookupNames(2200, '10.1.2.3', 'x'), blob).status).toBe('known');
      expect(checkHostKey(hashed, lookupNames(22, '10.1.2.3', 'x'), blob).status).toBe('unknown');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('appendKnownHost', () => {
  it('creates the file and its directory, and never glues a line to an unterminated one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rigger-kh-'));
    try {
      const path = join(dir, 'sub', 'known_hosts');
      await appendKnownHost(path, [`pg1 ssh-ed25519 ${b64(keyA)}`]);
      expect((await readKnownHosts(path)).map((e) => e.hosts)).toEqual(['pg1']);

      writeFileSync(path, `pg1 ssh-ed25519 ${b64(keyA)}`); // no final newline
      await Promise.all([appendKnownHost(path, [`pg2 ssh-ed25519 ${b64(keyB)}`]), appendKnownHost(path, [`pg3 ssh-ed25519 ${b64(keyB)}`])]);
      const hosts = (await readKnownHosts(path)).map((e) => e.hosts);
      expect(hosts).toEqual(['pg1', 'pg2', 'pg3']);
      expect(readFileSync(path, 'utf8').endsWith('\n')).toBe(true);
      expect(await readKnownHosts(join(dir, 'missing'))).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
