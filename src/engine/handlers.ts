/**
 * Handlers of one play on one host: notified by name from a changed task, run once each, in
 * definition order (roles in play order, then play-level handlers), at a flush or the play's end.
 * A notified handler is never lost: if the host fails before they run, they are persisted on
 * the host (pending.ts) and the next run runs them.
 */
import type { Task } from './types.ts';

export interface HandlerDef {
  /** Stable identity across runs: "ROLE:NAME", or "play:NAME" for play-level handlers. */
  key: string;
  name: string;
  role?: string;
  build(): Task[];
}

export class HandlerTable {
  constructor(readonly defs: HandlerDef[]) {}

  /** The handler a task of `fromRole` means by `name`: its own role's first, then any other. */
  resolve(name: string, fromRole: string | undefined): HandlerDef | undefined {
    return (
      this.defs.find((d) => d.name === name && d.role === fromRole) ??
      this.defs.find((d) => d.name === name && d.role !== undefined) ??
      this.defs.find((d) => d.name === name)
    );
  }

  byKey(key: string): HandlerDef | undefined {
    return this.defs.find((d) => d.key === key);
  }

  /** Notified keys in definition order. */
  ordered(notified: Set<string>): HandlerDef[] {
    return this.defs.filter((d) => notified.has(d.key));
  }
}
