/** Toy ops for the fake host: key `key` should hold `value`. */
import type { OpTask } from '../../src/engine/types.ts';

export function defineFakeOp(key: string, value: string, extra: Partial<Pick<OpTask, 'notify' | 'tags' | 'mayFail' | 'when' | 'name'>> = {}): OpTask {
  return {
    kind: 'op',
    name: extra.name ?? `set ${key}`,
    probe: `get ${key}`,
    plan: (p) =>
      p.code === 0 && p.stdout === value
        ? { change: false }
        : {
            change: true,
            summary: `${key}: ${p.code === 0 ? p.stdout : '(unset)'} -> ${value}`,
            commands: [{ script: `set ${key} ${value}`, what: `set ${key}` }],
          },
    ...extra,
  };
}
