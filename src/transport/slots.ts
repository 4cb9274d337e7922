/**
 * A counting semaphore for channels on one SSH connection. A slot is held until the channel
 * is really closed (not merely until the exec promise settles: a timed-out command's channel
 * still counts against the server's MaxSessions until the server confirms the close).
 */
export class Slots {
  #size: number;
  #used = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(size: number) {
    this.#size = size;
  }

  get inUse(): number {
    return this.#used;
  }

  get size(): number {
    return this.#size;
  }

  /** Resolves with a release function once a slot is free; release is safe to call twice. */
  async acquire(): Promise<() => void> {
    if (this.#used < this.#size) this.#used++;
    else await new Promise<void>((resolve) => this.#waiting.push(resolve)); // the releaser hands its slot over
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#used <= this.#size ? this.#waiting.shift() : undefined;
      if (next) next();
      else this.#used--;
    };
  }

  /** One slot fewer from now on (the server allows fewer channels than we assumed). */
  shrink(): void {
    if (this.#size > 1) this.#size--;
  }

  /** Wakes every waiter (the connection is gone; they will fail on their own). */
  drain(): void {
    for (const w of this.#waiting.splice(0)) w();
  }
}
