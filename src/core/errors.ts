/**
 * Bad input found before anything connects (inventory, vars, command line, playbook file):
 * every problem already names its file, host and field. The CLI prints them and exits 1.
 */
export class InputError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'InputError';
  }
}

/** A failure inside a task, with the text the user needs (already specific, redacted on print). */
export class TaskError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TaskError';
  }
}
