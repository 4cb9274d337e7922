/**
 * A private key file named in the inventory, checked before anything connects: a path that
 * does not exist, is not a file, cannot be read or holds no key is bad input (exit 1, naming
 * file, host and field), not an unreachable host found only when connecting.
 */
import { readFileSync, statSync } from 'node:fs';
import ssh2 from 'ssh2';
import { displayPath } from './errors.ts';

/** What is wrong with the key file at `path`, or undefined when it can be used. */
export function keyFileProblem(path: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const shown = displayPath(path);
  let text: Buffer;
  try {
    if (!statSync(path).isFile()) return `private key ${shown} is not a file`;
    text = readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? `private key ${shown} does not exist` : `private key ${shown} cannot be read (${code ?? String(e)})`;
  }
  const parsed = ssh2.utils.parseKey(text);
  if (parsed instanceof Error) {
    // An encrypted key is used through the agent (see the SSH transport), if there is one.
    if (/passphrase/i.test(parsed.message)) return env.SSH_AUTH_SOCK ? undefined : `private key ${shown} is encrypted and no ssh-agent runs (SSH_AUTH_SOCK): load it into ssh-agent`;
    return `private key ${shown} is not a private key ssh can use: ${parsed.message}`;
  }
  return undefined;
}
