/**
 * (b) and (c): a no-op converge of 20 managed items (a directory and 19 files) on N real
 * OpenSSH servers on loopback, connection included, through the real engine, ops and
 * transport; with the round trips and bytes each host cost.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { runPlaybook } from '../src/engine/run.ts';

// The bench logs in as the unprivileged test user (no become): the run lock, which needs root, is off.
const BENCH_LOCK = false as const;
import { defineRole } from '../src/engine/role.ts';
import { definePlay, definePlaybook } from '../src/engine/play.ts';
import { directory, file } from '../src/ops/index.ts';
import { SshTransport } from '../src/transport/ssh.ts';
import type { Reporter } from '../src/engine/events.ts';
import type { Host, Inventory } from '../src/inventory/types.ts';
import type { Transport } from '../src/transport/types.ts';
import { startSshd, type TestSshd } from '../test/support/sshd.ts';

export interface ConvergeFigures {
  servers: number;
  items: number;
  /** Median wall time of the no-op run, connection included, ms. */
  noopMs: number;
  changedOnNoop: number;
  execsPerHost: number;
  bytesOutPerHost: number;
  bytesInPerHost: number;
}

const role = defineRole({
  name: 'bench',
  vars: z.object({ dir: z.string() }),
  tasks: ({ vars }) => [
    directory({ path: vars.dir, mode: '0755' }),
    ...Array.from({ length: 19 }, (_, i) => file({ path: `${vars.dir}/item-${i}.conf`, content: `item=${i}\nvalue=${'x'.repeat(i * 10)}\n`, mode: '0644' })),
  ],
});
const playbook = definePlaybook('bench', definePlay({ name: 'bench', hosts: 'all', roles: [role] }));
const quiet: Reporter = { event: () => {}, close: async () => {} };

export async function startServers(n: number): Promise<TestSshd[]> {
  const out: TestSshd[] = [];
  for (let i = 0; i < n; i++) out.push(await startSshd());
  return out;
}

function inventoryFor(servers: TestSshd[], dir: string): Inventory {
  const hosts = new Map<string, Host>();
  servers.forEach((s, i) => {
    const name = `s${i + 1}`;
    // The throwaway user (login shell /bin/sh): root's bash start-up files on this machine cost ~180 ms a command.
    hosts.set(name, { ...s.host(name, { user: s.user }), vars: { bench: { dir: join(dir, name) } }, groups: ['all'], origins: {} });
  });
  return { source: 'bench', hosts, groups: new Map([['all', { name: 'all', hosts: [...hosts.keys()], children: [], vars: {} }]]) };
}

export async function noopConverge(servers: TestSshd[], runs = 5): Promise<ConvergeFigures> {
  const dir = mkdtempSync(join(tmpdir(), 'rigger-bench-'));
  const { chmodSync } = await import('node:fs');
  chmodSync(dir, 0o777);
  const inv = inventoryFor(servers, dir);
  try {
    const first = await runPlaybook(playbook, inv, { openTransport: (h) => new SshTransport(h), reporter: quiet, lock: BENCH_LOCK });
    if (!first.ok) throw new Error(`bench converge failed: ${JSON.stringify(first.hosts)}`);
    const times: number[] = [];
    let transports: Transport[] = [];
    let changed = 0;
    for (let r = 0; r < runs; r++) {
      transports = [];
      const t0 = performance.now();
      const recap = await runPlaybook(playbook, inv, {
        openTransport: (h) => {
          const t = new SshTransport(h);
          transports.push(t);
          return t;
        },
        reporter: quiet,
        lock: BENCH_LOCK,
      });
      times.push(performance.now() - t0);
      changed += Object.values(recap.hosts).reduce((a, h) => a + h.changed, 0);
    }
    const sum = (f: (t: Transport) => number) => transports.reduce((a, t) => a + f(t), 0) / transports.length;
    return {
      servers: servers.length,
      items: 20,
      noopMs: times.sort((a, b) => a - b)[Math.floor(times.length / 2)]!,
      changedOnNoop: changed,
      execsPerHost: sum((t) => t.stats.execs),
      bytesOutPerHost: sum((t) => t.stats.bytesOut),
      bytesInPerHost: sum((t) => t.stats.bytesIn),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
