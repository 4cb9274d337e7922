/**
 * Run-wide state shared by every host of one run (who leads, what was learned once, who is
 * restarting now), behind typed keys: a key says what it holds, so no reader casts. The
 * coordination helpers live here too, and none of them leaves a rejection unhandled: a
 * failed shared computation fails every host that waits on it, and nothing else.
 */
import { TaskError } from '../core/errors.ts';

/** A typed key. Make one with `stateKey<T>(name)`; the same name is the same slot. */
export interface StateKey<T> {
  readonly name: string;
  /** Type-only marker: never set. */
  readonly _holds?: (v: T) => T;
}

export function stateKey<T>(name: string): StateKey<T> {
  return { name };
}

/** A family of keys of one type, told apart by parts (scope, host): `members('main', 'pg1')`. */
export function stateKeys<T>(prefix: string): (...parts: string[]) => StateKey<T> {
  return (...parts) => stateKey<T>([prefix, ...parts].join(':'));
}

export interface Deferred<T = void> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(e: unknown): void;
}

export class RunState {
  readonly #slots = new Map<string, unknown>();

  get<T>(k: StateKey<T>): T | undefined {
    return this.#slots.get(k.name) as T | undefined;
  }

  set<T>(k: StateKey<T>, value: T): void {
    this.#slots.set(k.name, value);
  }

  has<T>(k: StateKey<T>): boolean {
    return this.#slots.has(k.name);
  }

  delete<T>(k: StateKey<T>): boolean {
    return this.#slots.delete(k.name);
  }

  /** The value, removed: for something a later step may use once only. */
  take<T>(k: StateKey<T>): T | undefined {
    const v = this.get(k);
    this.delete(k);
    return v;
  }

  /** The value, made by `make` on first use. */
  ensure<T>(k: StateKey<T>, make: () => T): T {
    if (!this.#slots.has(k.name)) this.#slots.set(k.name, make());
    return this.#slots.get(k.name) as T;
  }

  /** Once per run, shared by every host that asks: the first caller computes it, the others wait for it. */
  once<T>(k: StateKey<Promise<T>>, fn: () => Promise<T>): Promise<T> {
    return this.ensure(k, () => {
      const p = fn();
      p.catch(() => undefined); // awaited by every caller; never an unhandled rejection
      return p;
    });
  }

  /** A promise one host settles and others wait on (a leader that must be up before replicas start). */
  deferred<T = void>(k: StateKey<Deferred<T>>): Deferred<T> {
    return this.ensure(k, () => {
      let resolve!: (v: T) => void;
      let reject!: (e: unknown) => void;
      const promise = new Promise<T>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      promise.catch(() => undefined); // awaited by the waiting hosts; never an unhandled rejection
      return { promise, resolve, reject };
    });
  }

  /**
   * Runs `fn` only after every earlier caller with the same key finished (one member at a time
   * across the hosts of a run, e.g. restarts that must keep quorum). When an earlier one failed,
   * later ones do not run: one member down is what the cluster can afford.
   */
  oneAtATime<T>(k: StateKey<Promise<unknown>>, fn: () => Promise<T>): Promise<T> {
    const prev = this.get(k) ?? Promise.resolve();
    const mine = prev.then(fn, (e: unknown) => {
      throw new TaskError(`not done: an earlier one failed (${e instanceof Error ? e.message.split('\n')[0] : String(e)})`);
    });
    mine.catch(() => undefined); // the caller awaits it; the next caller sees the failure
    this.set(k, mine);
    return mine;
  }
}
