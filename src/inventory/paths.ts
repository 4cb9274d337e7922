/** Path handling for inventory values: `~` expansion and resolution against a directory. */
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';

export function expandHome(path: string, env: NodeJS.ProcessEnv = process.env): string {
  if (path !== '~' && !path.startsWith('~/')) return path;
  const home = env.HOME || homedir();
  return path === '~' ? home : join(home, path.slice(2));
}

/** `~/x` -> $HOME/x; `keys/id` -> BASEDIR/keys/id; absolute stays. */
export function resolvePath(path: string, baseDir: string, env?: NodeJS.ProcessEnv): string {
  const expanded = expandHome(path, env);
  return isAbsolute(expanded) ? expanded : resolve(baseDir, expanded);
}
