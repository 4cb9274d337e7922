/**
 * A counting semaphore for channels on one SSH connection. A slot is held until the channel
 * is really closed (not merely until the exec promise settles: a timed-out command's channel
 * still counts against the server's MaxSessions until the server confirms the close).
 */
export class Slots {
  #free: number;
  readonly #waiting: (() => void)[] = [];

  constructor(size: number) {
    this.#free = size;
  }

  /** Resolves with a release function once a slot is free; release is safe to call twice. */
  async acquire(): Promise<() => void> {
    if (this.#free > 0) this.#free--;
    else await new Promise<void>((resolve) => this.#waiting.push(resolve));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#waiting.shift();
      if (next) next();
      else this.#free++;
    };
  }

  /** Wakes every waiter (the connection is gone; they will fail on their own). */
  drain(): void {
    for (const w of this.#waiting.splice(0)) w();
  }
}
