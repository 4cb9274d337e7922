/**
 * A lock file held by a live process (pid + start time inside). Several engineers and the
 * test suite may run `lab up` at the same moment; the second one waits, then finds the
 * lab up. A lock left by a dead process is taken over.
 */
import { mkdirSync, openSync, readFileSync, unlinkSync, writeSync, closeSync } from 'node:fs';
import { dirname } from 'node:path';
import { isAlive, procRef } from './proc.ts';
import { LabError, sleep } from './run.ts';

export async function withLock<T>(path: string, what: string, fn: () => Promise<T>, timeoutMs = 30 * 60_000): Promise<T> {
  mkdirSync(dirname(path), { recursive: true });
  const me = procRef(process.pid);
  if (!me) throw new LabError('cannot read /proc/self/stat');
  const deadline = Date.now() + timeoutMs;
  let told = false;
  for (;;) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, JSON.stringify(me));
      closeSync(fd);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const owner = readOwner(path);
    if (owner && owner.pid === me.pid) throw new LabError(`${what}: lock ${path} is already held by this process`);
    if (!owner) {
      // Half-written by a writer that just created it, or garbage: give it a moment.
      await sleep(200);
      const again = readOwner(path);
      if (!again || !isAlive(again)) tryUnlink(path);
      continue;
    }
    if (!isAlive(owner)) {
      tryUnlink(path);
      continue;
    }
    if (!told) {
      process.stderr.write(`lab: waiting for ${what} (held by pid ${owner.pid})\n`);
      told = true;
    }
    if (Date.now() > deadline) throw new LabError(`${what}: lock ${path} held by pid ${owner.pid} for too long`);
    await sleep(300);
  }
  try {
    return await fn();
  } finally {
    tryUnlink(path);
  }
}

function readOwner(path: string): { pid: number; start: number } | null {
  try {
    const v: unknown = JSON.parse(readFileSync(path, 'utf8'));
    if (typeof v === 'object' && v !== null && 'pid' in v && 'start' in v && typeof v.pid === 'number' && typeof v.start === 'number') {
      return { pid: v.pid, start: v.start };
    }
  } catch {
    // missing or half-written
  }
  return null;
}

function tryUnlink(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}
