/** --events FILE: every engine event as one JSON line, for CI and dashboards. */
import { createWriteStream, type WriteStream } from 'node:fs';
import type { EngineEvent, Reporter } from '../engine/events.ts';
import { redact } from '../core/secret.ts';

export class EventsFileReporter implements Reporter {
  readonly #out: WriteStream;
  constructor(path: string) {
    this.#out = createWriteStream(path, { flags: 'w', mode: 0o600 });
  }
  event(e: EngineEvent): void {
    if (e.type === 'task-start') return;
    this.#out.write(redact(JSON.stringify({ at: new Date().toISOString(), ...e })) + '\n');
  }
  close(): Promise<void> {
    return new Promise((resolve) => this.#out.end(resolve));
  }
}

/** Fans events out to several reporters. */
export class MultiReporter implements Reporter {
  constructor(private readonly all: Reporter[]) {}
  event(e: EngineEvent): void {
    for (const r of this.all) r.event(e);
  }
  async close(): Promise<void> {
    for (const r of this.all) await r.close();
  }
}
