/** Temporary inventories written from inline text, for error and secret cases. */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'inventories');

const made: string[] = [];

/** Writes `files` (relative path -> text, or [text, mode]) into a fresh directory. */
export function tmpInventory(files: Record<string, string | [string, number]>): string {
  const dir = mkdtempSync(join(tmpdir(), 'rigger-inv-'));
  made.push(dir);
  for (const [rel, content] of Object.entries(files)) {
    const path = join(dir, rel);
    mkdirSync(dirname(path), { recursive: true });
    const [text, mode] = Array.isArray(content) ? content : [content, 0o644];
    writeFileSync(path, text);
    chmodSync(path, mode);
  }
  return dir;
}

export function cleanupTmp(): void {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** The message of what `fn` rejects with (fails the test when it resolves). */
export async function errorOf(fn: () => Promise<unknown>): Promise<Error> {
  try {
    await fn();
  } catch (e) {
    if (e instanceof Error) return e;
    throw new Error(`threw a non-Error: ${String(e)}`);
  }
  throw new Error('expected a rejection, got success');
}
