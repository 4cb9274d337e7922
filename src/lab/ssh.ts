/**
 * The lab's SSH identity: one client key pair per instance, host keys made per host on the
 * control machine before first boot (so known_hosts is written from the hosts' files, never
 * learned over the network), and the OpenSSH client invocation with strict checking.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Instance } from './instance.ts';
import { check, run, type RunResult } from './run.ts';

export async function ensureClientKey(inst: Instance): Promise<string> {
  if (!existsSync(inst.privateKey)) {
    mkdirSync(dirname(inst.privateKey), { recursive: true, mode: 0o700 });
    await check(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', `rigger-lab@${inst.name}`, '-f', inst.privateKey]);
  }
  return readFileSync(`${inst.privateKey}.pub`, 'utf8').trim();
}

/** Creates the host's ed25519 key pair in its (not yet booted) root filesystem. */
export async function makeHostKey(root: string, host: string): Promise<void> {
  const key = `${root}/etc/ssh/ssh_host_ed25519_key`;
  if (!existsSync(key)) await check(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', `root@${host}`, '-f', key]);
}

export function hostPublicKey(root: string): string {
  const [type, key] = readFileSync(`${root}/etc/ssh/ssh_host_ed25519_key.pub`, 'utf8').trim().split(/\s+/);
  return `${type} ${key}`;
}

export interface KnownHost {
  name: string;
  address: string;
  publicKey: string;
}

export function writeKnownHosts(path: string, hosts: readonly KnownHost[]): void {
  const text = hosts.map((h) => `${h.address},${h.name} ${h.publicKey}\n`).join('');
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, text, { mode: 0o644 });
  renameSync(tmp, path);
}

/** OpenSSH options for a lab host: the lab key, the lab known_hosts, checking on. */
export function sshOptions(inst: Pick<Instance, 'privateKey' | 'knownHosts'>, connectTimeoutS = 5): string[] {
  return [
    '-F', '/dev/null',
    '-i', inst.privateKey,
    '-o', 'IdentitiesOnly=yes',
    '-o', `UserKnownHostsFile=${inst.knownHosts}`,
    '-o', 'GlobalKnownHostsFile=/dev/null',
    '-o', 'StrictHostKeyChecking=yes',
    '-o', 'BatchMode=yes',
    '-o', `ConnectTimeout=${connectTimeoutS}`,
    '-o', 'LogLevel=ERROR',
  ];
}

/** Runs `script` on the host with the real OpenSSH client (remote shell: POSIX sh). */
export async function sshRun(
  inst: Pick<Instance, 'privateKey' | 'knownHosts'>,
  address: string,
  script: string,
  opts: { timeoutMs?: number; input?: string } = {},
): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const connectS = Math.max(1, Math.min(5, Math.floor(timeoutMs / 2000)));
  return run(['ssh', ...sshOptions(inst, connectS), `root@${address}`, script], { timeoutMs, ...(opts.input !== undefined ? { input: opts.input } : {}) });
}
