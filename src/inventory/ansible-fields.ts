/**
 * Ansible connection vars: which ones rigger honours (mapped to the host's connection in
 * merge.ts), and a refusal, naming file, host or group, and field, for every other ansible_*
 * var, so that none is dropped silently: a password, a become user other than root, extra ssh
 * arguments, another connection plugin would all change how (or whether) a host is reached, and
 * rigger would not do what the inventory says. `ansible_ssh_common_args` is read when all it
 * says is a ProxyJump.
 */
import type { InventoryProblem } from './errors.ts';
import type { Problems } from './errors.ts';
import type { Vars } from './types.ts';
import { JUMP_SPEC_HELP, jumpFromSshArgs, parseJump } from './jump.ts';

/** Mapped to the connection (merge.ts ansibleConnection checks their values). */
export const HONOURED = [
  'ansible_host',
  'ansible_ssh_host',
  'ansible_port',
  'ansible_ssh_port',
  'ansible_user',
  'ansible_ssh_user',
  'ansible_ssh_private_key_file',
  'ansible_private_key_file',
  'ansible_become',
  'ansible_timeout',
  'ansible_ssh_timeout',
  'ansible_connection',
  'ansible_ssh_common_args', // only `-o ProxyJump=[user@]host[:port]` (checked below)
];

/** Not about reaching the host, and nothing rigger does depends on them: accepted, not used. */
export const IGNORED: Record<string, string> = {
  ansible_python_interpreter: 'rigger needs no Python on the hosts',
};

const KEYS_ONLY = 'rigger logs in with keys only (ansible_ssh_private_key_file, or an ssh-agent)';
const SUDO_N = 'rigger becomes root through `sudo -n` (passwordless sudo); a sudo password is not supported';
const NO_ARGS = 'rigger does not run the ssh command, so ssh arguments and options are not applied';

/** Why each known-but-unhonoured var is refused. */
const REFUSED: Record<string, string> = {
  ansible_password: KEYS_ONLY,
  ansible_ssh_pass: KEYS_ONLY,
  ansible_ssh_password: KEYS_ONLY,
  ansible_become_password: SUDO_N,
  ansible_become_pass: SUDO_N,
  ansible_sudo_pass: SUDO_N,
  ansible_sudo_password: SUDO_N,
  ansible_become_flags: 'rigger runs `sudo -n` without extra flags',
  ansible_become_exe: 'rigger runs `sudo` from the PATH',
  ansible_ssh_extra_args: NO_ARGS,
  ansible_ssh_args: NO_ARGS,
  ansible_sftp_extra_args: NO_ARGS,
  ansible_scp_extra_args: NO_ARGS,
  ansible_ssh_executable: NO_ARGS,
  ansible_host_key_checking: 'host keys are always checked against known_hosts; use --known-hosts, --accept-new-host-keys or (never in production) --insecure-no-host-key-check',
  ansible_ssh_host_key_checking: 'host keys are always checked against known_hosts; use --known-hosts, --accept-new-host-keys or (never in production) --insecure-no-host-key-check',
  ansible_shell_type: 'rigger runs its scripts with /bin/sh',
  ansible_shell_executable: 'rigger runs its scripts with /bin/sh',
};

/** Honoured only with one value: the var is refused with any other. */
const ONLY: Record<string, { values: string[]; why: string }> = {
  ansible_become_user: { values: ['root'], why: 'rigger becomes root only' },
  ansible_become_method: { values: ['sudo'], why: 'rigger becomes root through sudo only' },
};

/** Refuses (into `problems`) every ansible_* var of one layer that rigger would not honour. */
export function checkAnsibleFields(vars: Vars, where: Omit<InventoryProblem, 'detail' | 'field'>, problems: Problems): void {
  for (const [key, value] of Object.entries(vars)) {
    const add = (detail: string) => problems.add({ ...where, field: key, detail });
    if (key === 'ansible_ssh_common_args') {
      const jump = typeof value === 'string' ? jumpFromSshArgs(value) : undefined;
      if (jump === undefined) add(`not supported: ${NO_ARGS}, except a lone \`-o ProxyJump=[user@]host[:port]\``);
      else if (parseJump(jump) === undefined) add(`ProxyJump ${JSON.stringify(jump)}: ${JUMP_SPEC_HELP}`);
      continue;
    }
    if (!key.startsWith('ansible_') || HONOURED.includes(key) || key in IGNORED) continue;
    const only = ONLY[key];
    if (only) {
      const v = typeof value === 'string' ? value.trim() : value;
      if (typeof v === 'string' && only.values.includes(v)) continue;
      add(`${JSON.stringify(value) ?? String(value)} is not supported: ${only.why} (remove it, or set ${only.values.join(' or ')})`);
      continue;
    }
    const why = REFUSED[key];
    if (why) {
      const proxy = /ssh_(extra_)?args/.test(key) && typeof value === 'string' && /ProxyJump|ProxyCommand|-J\b/.test(value);
      add(`not supported: ${why}${proxy ? '; a jump host goes in ansible_ssh_common_args as `-o ProxyJump=[user@]host[:port]`' : ''}`);
      continue;
    }
    add(`not a connection var rigger honours (it reads ${HONOURED.join(', ')}; see README "Inventory"): remove it, or rename it if it is not Ansible's`);
  }
}
