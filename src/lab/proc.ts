/**
 * Process facts from /proc. PID 1 on this kind of machine reaps orphans late, so a dead
 * process can linger as a zombie: "alive" means present, not a zombie, and the same start
 * time as recorded (a reused PID is a different process).
 */
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

export interface ProcRef {
  pid: number;
  /** Start time in clock ticks since boot (field 22 of /proc/PID/stat). */
  start: number;
}

function statFields(pid: number): string[] | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return rest; // rest[0] is field 3 (state)
  } catch {
    return null;
  }
}

export function procRef(pid: number): ProcRef | null {
  const f = statFields(pid);
  if (!f || f[0] === 'Z') return null;
  return { pid, start: Number(f[19]) };
}

export function isAlive(ref: ProcRef): boolean {
  const now = procRef(ref.pid);
  return now !== null && now.start === ref.start;
}

export function childrenOf(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((tid) =>
      readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8')
        .trim()
        .split(/\s+/)
        .filter(Boolean)
        .map(Number),
    );
  } catch {
    return [];
  }
}

export function cmdline(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, -1);
  } catch {
    return [];
  }
}

export function allPids(): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number);
}

function pidNamespace(pid: number): string | null {
  try {
    return readlinkSync(`/proc/${pid}/ns/pid`);
  } catch {
    return null;
  }
}

/** Every live process in the PID namespace of `leader` (the container's processes). */
export function namespaceMembers(leader: number): number[] {
  const ns = pidNamespace(leader);
  if (!ns) return [];
  return allPids().filter((p) => procRef(p) !== null && pidNamespace(p) === ns);
}

/** Proportional set size of the processes, in KiB (shared pages split among their users). */
export function pssKib(pids: number[]): number {
  let total = 0;
  for (const p of pids) {
    try {
      const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${p}/smaps_rollup`, 'utf8'));
      if (m) total += Number(m[1]);
    } catch {
      // the process ended meanwhile
    }
  }
  return total;
}
