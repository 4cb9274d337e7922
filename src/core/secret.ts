/**
 * A secret value (password, API key). It prints as ******** everywhere — toString, JSON,
 * util.inspect — and its clear text only comes out through reveal(), which also registers it
 * with the redactor so that any text that later carries it (a diff, an error, a log line) is
 * masked before it is printed.
 */
import { inspect } from 'node:util';
import { z } from 'zod';

export const MASK = '********';
const known = new Set<string>();

export class Secret {
  readonly #value: string;
  constructor(value: string, readonly source = 'inline') {
    this.#value = value;
    if (value.length >= 3) known.add(value);
  }
  reveal(): string {
    return this.#value;
  }
  toString(): string {
    return MASK;
  }
  toJSON(): string {
    return MASK;
  }
  [inspect.custom](): string {
    return `Secret(${MASK})`;
  }
}

export function isSecret(v: unknown): v is Secret {
  return v instanceof Secret;
}

/** Masks every known secret value in `text`. Every reporter and error path goes through this. */
export function redact(text: string): string {
  let out = text;
  for (const s of known) if (out.includes(s)) out = out.split(s).join(MASK);
  return out;
}

/** True when `text` carries a secret value (revealed or registered) anywhere in it. */
export function containsSecret(text: string): boolean {
  for (const s of known) if (text.includes(s)) return true;
  return false;
}

/**
 * Schema for a secret var in a role: accepts a Secret (from the inventory's
 * `{ secret: { env | file | value } }`, or `new Secret(...)` in a playbook).
 */
export const SecretSchema = z.custom<Secret>((v) => v instanceof Secret, {
  message: 'expected a secret: { secret: { env: NAME } | { file: PATH } | { value: TEXT } }',
});
