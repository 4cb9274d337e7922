/**
 * Terminal progress: one listr2 row per host (not per task: hundreds of rows redraw slowly),
 * its title showing the play and task it is on. Changes, diffs and warnings are kept and
 * printed plainly under the rows when the run ends, with the recap.
 */
import { Listr } from 'listr2';
import type { EngineEvent, Reporter } from '../engine/events.ts';
import { redact } from '../core/secret.ts';
import { describe } from './plain.ts';

interface Row {
  title: (t: string) => void;
  done: (failed: string | null) => void;
}

export class ListrReporter implements Reporter {
  readonly #rows = new Map<string, Row>();
  readonly #later: string[] = [];
  #listr: Promise<unknown> | null = null;

  constructor(private readonly o: { diff?: boolean; verbose?: boolean }) {}

  event(e: EngineEvent): void {
    if (e.type === 'run-start') this.#start(e.hosts);
    if (e.type === 'task-start') this.#rows.get(e.host)?.title(`${e.host}  [${e.play}] ${e.task}`);
    if (e.type === 'run-end') {
      for (const [name, row] of this.#rows) {
        const h = e.recap.hosts[name];
        row.done(h?.unreachable ? 'unreachable' : h && h.failed > 0 ? `failed=${h.failed}` : null);
      }
    }
    if (e.type === 'task-start' || e.type === 'run-start') return;
    const line = describe(e, { ...this.o, recap: true });
    if (line !== null) this.#later.push(redact(line));
  }

  #start(hosts: string[]): void {
    const tasks = hosts.map((name) => ({
      title: name,
      task: (_: unknown, task: { title: string }) =>
        new Promise<void>((resolve, reject) => {
          this.#rows.set(name, {
            title: (t) => (task.title = redact(t)),
            done: (failed) => {
              task.title = failed ? `${name}  ${failed}` : `${name}  done`;
              if (failed) reject(new Error(`${name}: ${failed}`));
              else resolve();
            },
          });
        }),
    }));
    this.#listr = new Listr(tasks, {
      concurrent: true,
      exitOnError: false,
      registerSignalListeners: false,
      rendererOptions: { collapseErrors: true },
    }).run().catch(() => undefined);
  }

  async close(): Promise<void> {
    await this.#listr;
    process.stdout.write(this.#later.join('\n') + '\n');
  }
}
