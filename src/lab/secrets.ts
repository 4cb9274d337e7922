/**
 * Secret files the roles read in the lab (passwords for PostgreSQL roles and the Patroni
 * API). Made once, kept across down/up so that a re-created cluster uses the same values.
 */
import { randomInt } from 'node:crypto';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export const LAB_SECRETS = ['pg-superuser', 'pg-replication', 'pg-rewind', 'patroni-api'] as const;
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

export function randomToken(length = 24): string {
  let s = '';
  for (let i = 0; i < length; i++) s += ALPHABET[randomInt(ALPHABET.length)];
  return s;
}

export function ensureSecrets(dir: string): string[] {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const made: string[] = [];
  for (const name of LAB_SECRETS) {
    const path = join(dir, name);
    if (existsSync(path)) continue;
    const fd = openSync(path, 'wx', 0o600);
    writeSync(fd, randomToken());
    closeSync(fd);
    made.push(name);
  }
  return made;
}
