/**
 * Named rendezvous points for the hosts of one play batch. A host that finishes or fails
 * leaves the group, so the others never wait for a host that cannot arrive.
 */
export class BarrierGroup {
  readonly #members: Set<string>;
  readonly #arrived = new Map<string, Set<string>>();
  readonly #waiters = new Map<string, Array<() => void>>();

  constructor(members: Iterable<string>) {
    this.#members = new Set(members);
  }

  arrive(host: string, name: string): Promise<void> {
    let set = this.#arrived.get(name);
    if (!set) this.#arrived.set(name, (set = new Set()));
    set.add(host);
    const done = new Promise<void>((resolve) => {
      const list = this.#waiters.get(name) ?? [];
      list.push(resolve);
      this.#waiters.set(name, list);
    });
    this.#settle();
    return done;
  }

  leave(host: string): void {
    this.#members.delete(host);
    this.#settle();
  }

  #settle(): void {
    for (const [name, arrived] of this.#arrived) {
      if ([...this.#members].every((m) => arrived.has(m))) {
        for (const resolve of this.#waiters.get(name) ?? []) resolve();
        this.#waiters.delete(name);
      }
    }
  }
}
