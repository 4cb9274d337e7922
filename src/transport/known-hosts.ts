/**
 * known_hosts in OpenSSH's format: parse, look a host up, decide known / unknown / changed,
 * and build the line recorded for a new key. Pure except appendKnownHost.
 *
 * Lines: `[@marker] patterns keytype base64 [comment]`. Patterns are a comma list of host
 * names (wildcards `*` `?`, negation `!`), `[host]:port` for ports other than 22, or one
 * hashed name `|1|base64(salt)|base64(HMAC-SHA1(salt, name))`.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';

export interface KnownHostEntry {
  /** 1-based line number, for messages ("known_hosts:12"). */
  line: number;
  marker: 'cert-authority' | 'revoked' | null;
  /** The host field as written (comma list, or one hashed name). */
  hosts: string;
  keyType: string;
  /** The key blob (SSH wire format), as base64-decoded from the line. */
  key: Buffer;
}

export function parseKnownHosts(text: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  text.split('\n').forEach((raw, i) => {
    const fields = raw.trim().split(/\s+/);
    if (fields[0] === undefined || fields[0] === '' || fields[0].startsWith('#')) return;
    let marker: KnownHostEntry['marker'] = null;
    if (fields[0].startsWith('@')) {
      const m = fields.shift()!;
      if (m === '@revoked') marker = 'revoked';
      else if (m === '@cert-authority') marker = 'cert-authority';
      else return; // an unknown marker: OpenSSH ignores the line too
    }
    const [hosts, keyType, b64] = fields;
    if (hosts === undefined || keyType === undefined || b64 === undefined) return;
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) return;
    entries.push({ line: i + 1, marker, hosts, keyType, key: Buffer.from(b64, 'base64') });
  });
  return entries;
}

/** The names a host is looked up (and recorded) under: `name` for port 22, else `[name]:port`. */
export function lookupNames(port: number, ...names: string[]): string[] {
  const out: string[] = [];
  for (const n of names) {
    const v = (port === 22 ? n : `[${n}]:${port}`).toLowerCase();
    if (n !== '' && !out.includes(v)) out.push(v);
  }
  return out;
}

function hashedMatch(field: string, name: string): boolean {
  const parts = field.split('|'); // ['', '1', salt, hmac]
  if (parts.length !== 4 || parts[1] !== '1' || parts[2] === undefined || parts[3] === undefined) return false;
  const mac = createHmac('sha1', Buffer.from(parts[2], 'base64')).update(name).digest('base64');
  return mac === parts[3];
}

function globToRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`, 'i');
}

/** Whether an entry's host field matches one looked-up name (already in `[host]:port` form). */
export function hostFieldMatches(field: string, name: string): boolean {
  if (field.startsWith('|')) return hashedMatch(field, name);
  let positive = false;
  for (const pattern of field.split(',')) {
    const negated = pattern.startsWith('!');
    const glob = negated ? pattern.slice(1) : pattern;
    if (!globToRegExp(glob).test(name)) continue;
    if (negated) return false; // a negated match wins over any positive one
    positive = true;
  }
  return positive;
}

export type HostKeyVerdict =
  | { status: 'known'; line: number }
  | { status: 'unknown' }
  /** Entries exist for this host, none with the presented key (or the key is @revoked). */
  | { status: 'mismatch'; revoked: boolean; expected: { line: number; keyType: string; fingerprint: string }[] };

/** Decides about the key a server presented, looked up under every name in `names`. */
export function checkHostKey(entries: KnownHostEntry[], names: string[], key: Buffer): HostKeyVerdict {
  const mine = entries.filter((e) => e.marker !== 'cert-authority' && names.some((n) => hostFieldMatches(e.hosts, n)));
  const revoked = entries.find((e) => e.marker === 'revoked' && e.key.equals(key));
  const expected = mine
    .filter((e) => e.marker === null)
    .map((e) => ({ line: e.line, keyType: e.keyType, fingerprint: fingerprint(e.key) }));
  if (revoked) return { status: 'mismatch', revoked: true, expected };
  const same = mine.find((e) => e.marker === null && e.key.equals(key));
  if (same) return { status: 'known', line: same.line };
  return expected.length > 0 ? { status: 'mismatch', revoked: false, expected } : { status: 'unknown' };
}

/** Key types known for these names, so the handshake can ask the server for one of them first. */
export function knownKeyTypes(entries: KnownHostEntry[], names: string[]): string[] {
  const types = entries
    .filter((e) => e.marker === null && names.some((n) => hostFieldMatches(e.hosts, n)))
    .map((e) => e.keyType);
  return [...new Set(types)];
}

/** OpenSSH's fingerprint: SHA256:base64 of the blob, without padding. */
export function fingerprint(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

/** The algorithm name at the start of a key blob ("ssh-ed25519"). */
export function keyTypeOf(key: Buffer): string {
  if (key.length < 4) return 'unknown';
  const len = key.readUInt32BE(0);
  return len > 0 && 4 + len <= key.length ? key.subarray(4, 4 + len).toString('latin1') : 'unknown';
}

/** Whether a file already uses hashed names (Debian's ssh_config sets HashKnownHosts yes). */
export function usesHashedNames(entries: KnownHostEntry[]): boolean {
  return entries.some((e) => e.hosts.startsWith('|1|'));
}

/** The line(s) recording `key` for `names`: one plain line, or one hashed line per name. */
export function knownHostsLines(names: string[], key: Buffer, hashed: boolean, salt?: () => Buffer): string[] {
  const b64 = key.toString('base64');
  const type = keyTypeOf(key);
  if (!hashed) return [`${names.join(',')} ${type} ${b64}`];
  return names.map((n) => {
    const s = salt ? salt() : randomBytes(20);
    const mac = createHmac('sha1', s).update(n).digest('base64');
    return `|1|${s.toString('base64')}|${mac} ${type} ${b64}`;
  });
}

export async function readKnownHosts(path: string): Promise<KnownHostEntry[]> {
  try {
    return parseKnownHosts(await readFile(path, 'utf8'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

// Appends from many hosts connecting at once go one after the other (per file).
const appendQueue = new Map<string, Promise<void>>();

/** Appends lines to a known_hosts file (created if missing), after a newline if the file lacks one. */
export function appendKnownHost(path: string, lines: string[]): Promise<void> {
  const prev = appendQueue.get(path) ?? Promise.resolve();
  const next = prev.then(async () => {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    let current = '';
    try {
      current = await readFile(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    const lead = current === '' || current.endsWith('\n') ? '' : '\n';
    await appendFile(path, `${lead}${lines.join('\n')}\n`, { mode: 0o644 });
  });
  appendQueue.set(path, next.catch(() => {}));
  return next;
}
