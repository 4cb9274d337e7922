/**
 * Plain lines, for CI logs and anything that is not a terminal. Changes, failures, warnings
 * and unreachable hosts always; ok and skipped tasks with --verbose.
 */
import type { Writable } from 'node:stream';
import type { EngineEvent, Reporter } from '../engine/events.ts';
import { redact } from '../core/secret.ts';
import { formatRecap } from './recap.ts';

export interface PlainOptions {
  out: Writable;
  verbose?: boolean;
  diff?: boolean;
  /** Print the recap at run-end (off when a JSON recap goes to stdout). */
  recap?: boolean;
}

export class PlainReporter implements Reporter {
  constructor(private readonly o: PlainOptions) {}

  event(e: EngineEvent): void {
    const line = describe(e, this.o);
    if (line !== null) this.o.out.write(redact(line) + '\n');
  }

  async close(): Promise<void> {}
}

export function describe(e: EngineEvent, o: { verbose?: boolean; diff?: boolean; recap?: boolean }): string | null {
  switch (e.type) {
    case 'run-start':
      return `RUN ${e.playbook}${e.check ? ' (check mode: nothing will be changed)' : ''} on ${e.hosts.length} host(s)`;
    case 'play-start':
      return `\nPLAY [${e.play}] ${e.hosts.join(', ') || '(no hosts)'}`;
    case 'batch-start':
      return `BATCH ${e.batch} [${e.play}] ${e.hosts.join(', ')}`;
    case 'task': {
      const what = `[${e.host}] ${e.role ? `${e.role} | ` : ''}${e.handler ? 'handler: ' : ''}${e.task}`;
      const r = e.result;
      if (r.status === 'changed') {
        const head = `changed: ${what}: ${r.summary}`;
        return o.diff && r.diff ? `${head}\n${indent(r.diff)}` : head;
      }
      if (r.status === 'failed') return `${r.ignored ? 'failed (allowed)' : 'FAILED'}: ${what}: ${indent(r.error).trimStart()}`;
      if (!o.verbose) return null;
      return r.status === 'skipped' ? `skipped: ${what} (${r.reason})` : `ok: ${what}${r.message ? `: ${r.message}` : ''}`;
    }
    case 'unreachable':
      return `UNREACHABLE: [${e.host}] ${e.error}`;
    case 'host-failed':
      return `HOST FAILED: [${e.host}] leaves play "${e.play}": ${e.error}`;
    case 'warn':
      return `WARNING: [${e.host}] ${e.message}`;
    case 'log':
      return `[${e.host}] ${e.message}`;
    case 'gate':
      return e.ok ? (o.verbose ? `gate after batch ${e.batch} [${e.play}]: ok` : null) : `GATE FAILED after batch ${e.batch} [${e.play}]: ${e.error}`;
    case 'abort':
      return `STOPPING: ${e.reason}`;
    case 'run-end':
      return o.recap === false ? null : formatRecap(e.recap);
    default:
      return null;
  }
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
}
