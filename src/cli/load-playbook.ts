/** Loads a user's playbook file (TypeScript, through the tsx loader the CLI registered). */
import { resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { InputError } from '../core/errors.ts';
import type { Playbook } from '../engine/play.ts';

export async function loadPlaybook(path: string): Promise<Playbook> {
  const abs = resolve(path);
  if (!existsSync(abs)) throw new InputError([`${path}: playbook file not found`]);
  let mod: { default?: unknown };
  try {
    mod = (await import(pathToFileURL(abs).href)) as { default?: unknown };
  } catch (e) {
    throw new InputError([`${path}: could not load: ${e instanceof Error ? e.message : String(e)}`]);
  }
  const pb = mod.default as Partial<Playbook> | undefined;
  if (!pb || pb.kind !== 'playbook') throw new InputError([`${path}: the default export is not a playbook (export default definePlaybook(...))`]);
  return pb as Playbook;
}
