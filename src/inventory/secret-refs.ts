/**
 * Secret vars. `{ secret: { env: NAME } }`, `{ secret: { file: PATH } }` and
 * `{ secret: { value: TEXT } }` become Secret instances, and any string held under a key that
 * looks sensitive (password, token, api_key, ...) is wrapped too, so that no later printing
 * path can show it. Done once per layer of vars, where the file and host/group are known.
 */
import { readFileSync, statSync } from 'node:fs';
import { displayPath, type Problems } from './errors.ts';
import { resolvePath } from './paths.ts';
import { joinField } from './schema.ts';
import { Secret, isSecret } from '../core/secret.ts';
import type { Vars } from './types.ts';

export const SENSITIVE_KEY = /password|passwd|secret|token|api[_-]?key|private[_-]?key/i;

/** An Ansible `!vault` value: we cannot decrypt it, and say so where it is. */
export class VaultValue {
  readonly kind = 'vault';
}

export interface SecretScope {
  file: string;
  host?: string;
  group?: string;
  /** Where the vars sit inside the file, e.g. ['vars'] for a host entry's `vars:`. */
  fieldPrefix?: string[];
  /** Relative secret files resolve against this directory. */
  baseDir: string;
  env: NodeJS.ProcessEnv;
  /** Top-level keys left alone (Ansible connection vars, mapped or dropped later). */
  skipKey?: (key: string) => boolean;
}

/** The value a secret from an unset environment variable holds when unset ones are allowed. */
const UNSET = '\u0000rigger-unset-env:';

/**
 * For showing an inventory (`rigger inventory`), not for running: an environment in which every
 * variable that is not set reads as a marker, so `{ secret: { env: NAME } }` of an unset NAME
 * loads as a Secret that `unsetEnvOf` recognises and the display shows as unset. A run loads with
 * the real environment and fails on it, naming file, host and field.
 */
export function allowUnsetEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return new Proxy(env, {
    get: (target, key) => (typeof key === 'string' && target[key] === undefined && key !== 'HOME' ? UNSET + key : Reflect.get(target, key)),
  });
}

/** The environment variable a secret loaded under allowUnsetEnv was missing, if it was. */
export function unsetEnvOf(s: Secret): string | undefined {
  const v = s.reveal();
  return v.startsWith(UNSET) ? v.slice(UNSET.length) : undefined;
}

export function resolveSecrets(vars: Vars, scope: SecretScope, problems: Problems): Vars {
  const out: Vars = {};
  for (const [key, value] of Object.entries(vars)) {
    out[key] = scope.skipKey?.(key) ? value : walk(value, [...(scope.fieldPrefix ?? []), key], SENSITIVE_KEY.test(key), scope, problems);
  }
  return out;
}

function walk(value: unknown, path: Array<string | number>, sensitive: boolean, scope: SecretScope, problems: Problems): unknown {
  if (typeof value === 'string') return sensitive ? new Secret(value, 'inventory') : value;
  if (value instanceof VaultValue) {
    problems.add({
      ...where(scope, path),
      detail: 'ansible-vault encrypted values are not supported: use { secret: { env: NAME } } or { secret: { file: PATH } }',
    });
    return undefined;
  }
  if (Array.isArray(value)) return value.map((v, i) => walk(v, [...path, i], sensitive, scope, problems));
  if (!isPlain(value) || isSecret(value)) return value;
  if (Object.keys(value).length === 1 && 'secret' in value && isPlain(value.secret)) {
    return fromRef(value.secret, [...path, 'secret'], scope, problems);
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = walk(v, [...path, k], sensitive || SENSITIVE_KEY.test(k), scope, problems);
  return out;
}

function fromRef(ref: Record<string, unknown>, path: Array<string | number>, scope: SecretScope, problems: Problems): Secret | undefined {
  const keys = Object.keys(ref);
  const fail = (detail: string) => {
    problems.add({ ...where(scope, path), detail });
    return undefined;
  };
  const kind = keys[0];
  if (keys.length !== 1 || (kind !== 'env' && kind !== 'file' && kind !== 'value')) {
    return fail(`expected exactly one of env, file, value; got ${keys.length ? keys.join(', ') : 'nothing'}`);
  }
  const arg = ref[kind];
  if (typeof arg !== 'string' || arg === '') return fail(`${kind}: expected a non-empty string`);
  if (kind === 'value') return new Secret(arg, 'inline');
  if (kind === 'env') {
    const v = scope.env[arg];
    if (v === undefined) return fail(`environment variable ${arg} is not set`);
    if (v === '') return fail(`environment variable ${arg} is empty`);
    return new Secret(v, `env:${arg}`);
  }
  const path_ = resolvePath(arg, scope.baseDir, scope.env);
  const shown = displayPath(path_);
  let mode: number;
  try {
    const st = statSync(path_);
    if (!st.isFile()) return fail(`secret file ${shown} is not a regular file`);
    mode = st.mode & 0o777;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return fail(code === 'ENOENT' ? `secret file ${shown} does not exist` : `secret file ${shown}: ${code ?? String(e)}`);
  }
  if (mode & 0o077) {
    return fail(`secret file ${shown} is readable by group/other (mode 0${mode.toString(8)}): run chmod 600 ${shown}`);
  }
  let text: string;
  try {
    text = readFileSync(path_, 'utf8').replace(/\r?\n$/, '');
  } catch (e) {
    return fail(`secret file ${shown}: cannot read (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  if (text === '') return fail(`secret file ${shown} is empty`);
  return new Secret(text, `file:${path_}`);
}

function where(scope: SecretScope, path: Array<string | number>) {
  return {
    file: scope.file,
    ...(scope.host !== undefined ? { host: scope.host } : {}),
    ...(scope.group !== undefined ? { group: scope.group } : {}),
    field: joinField(path),
  };
}

function isPlain(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype;
}
