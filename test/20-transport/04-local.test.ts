/** The local transport: same contract as SSH, on the control machine. */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { LocalTransport } from '../../src/transport/local.ts';
import { SshTransport } from '../../src/transport/ssh.ts';
import { openTransport } from '../../src/transport/open.ts';
import { TransportError } from '../../src/transport/types.ts';
import type { Host } from '../../src/inventory/types.ts';

function host(over: Partial<Host['connection']> = {}): Host {
  return {
    name: 'control',
    connection: {
      address: '127.0.0.1',
      port: 22,
      user: 'root',
      become: false,
      knownHosts: '/nonexistent',
      acceptNewHostKeys: false,
      insecureSkipHostKeyCheck: false,
      connectTimeoutMs: 1000,
      transport: 'local',
      ...over,
    },
    groups: ['all'],
    vars: {},
    origins: {},
  };
}

function running(pattern: string): string {
  try {
    return execFileSync('pgrep', ['-f', pattern], { encoding: 'utf8' }).trim();
  } catch {
    return ''; // pgrep exits 1 when nothing matches
  }
}

describe('LocalTransport', () => {
  it('openTransport picks local or ssh from the inventory', () => {
    expect(openTransport(host())).toBeInstanceOf(LocalTransport);
    expect(openTransport(host({ transport: 'ssh' }))).toBeInstanceOf(SshTransport);
  });

  it('runs sh with exit codes, untrimmed output and stdin', async () => {
    const t = new LocalTransport(host());
    await t.connect();
    expect(await t.exec("printf ' x \\n'; echo e >&2; exit 4")).toEqual({ code: 4, stdout: ' x \n', stderr: 'e\n' });
    const payload = randomBytes(300_000);
    expect((await t.exec('sha256sum | cut -d" " -f1', { stdin: payload })).stdout.trim()).toBe(createHash('sha256').update(payload).digest('hex'));
    expect((await t.exec('true', { stdin: randomBytes(1_000_000) })).code).toBe(0); // stdin never read: no EPIPE crash
    expect((await t.exec('kill -9 $$')).code).toBe(137);
    expect(t.stats.execs).toBe(4);
    await t.close();
    await expect(t.exec('true')).rejects.toBeInstanceOf(TransportError);
  });

  it('times out and kills the whole process group', async () => {
    const t = new LocalTransport(host());
    const e = await t.exec('sleep 31338 & sleep 31339; wait', { timeoutMs: 300 }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(TransportError);
    expect((e as TransportError).kind).toBe('timeout');
    let left = 'x';
    for (let i = 0; i < 50 && left; i++) {
      left = running('slee[p] 3133[89]');
      if (left) await new Promise((r) => setTimeout(r, 100));
    }
    expect(left).toBe('');
  });
});
