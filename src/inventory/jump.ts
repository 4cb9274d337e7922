/**
 * A jump host (OpenSSH's ProxyJump): `[user@]host[:port]`, one hop. The target is reached
 * through a TCP forward on the jump host's SSH connection; both host keys are checked against
 * the host's known_hosts, and the same key (or agent) logs in to both.
 */
export interface JumpHost {
  /** Unset: the target's user. */
  user?: string;
  address: string;
  port: number;
}

const SPEC = /^(?:([A-Za-z0-9_][A-Za-z0-9_.-]*)@)?([A-Za-z0-9_.-]+|\[[0-9A-Fa-f:.]+\])(?::(\d{1,5}))?$/;

export const JUMP_SPEC_HELP = 'expected [user@]host[:port] (one jump host)';

/** `admin@bastion:2222` -> { user, address, port }; undefined when it is not one such hop. */
export function parseJump(spec: string): JumpHost | undefined {
  const m = SPEC.exec(spec.trim());
  if (!m) return undefined;
  const port = m[3] === undefined ? 22 : Number(m[3]);
  if (port < 1 || port > 65535) return undefined;
  const address = m[2]!.startsWith('[') ? m[2]!.slice(1, -1) : m[2]!;
  return { ...(m[1] ? { user: m[1] } : {}), address, port };
}

/**
 * The ProxyJump of `ansible_ssh_common_args` when that is all it says (`-o ProxyJump=SPEC`,
 * `-o ProxyJump SPEC`, `-J SPEC`); undefined for anything else.
 */
export function jumpFromSshArgs(args: string): string | undefined {
  const m = /^\s*(?:-o\s*['"]?ProxyJump[=\s]\s*([^\s'"]+)['"]?|-J\s*([^\s'"]+))\s*$/i.exec(args);
  return m ? (m[1] ?? m[2]) : undefined;
}
