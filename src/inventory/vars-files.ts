/**
 * group_vars/ and host_vars/ next to the inventory. Each entry is a file named after the
 * group or host (`postgres.yml`, `.yaml`, `.json`, or no extension) or a directory of such
 * files, read in name order. A file for an unknown group or host is an error: a typo there
 * would otherwise silently drop vars.
 */
import { readdirSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { describeValue, type Problems } from './errors.ts';
import { isAnsibleKey } from './ansible-builder.ts';
import { rejectAnsibleKeys, type LoadContext } from './ours.ts';
import type { Flavor, VarLayer, VarsFiles } from './raw.ts';
import { resolveSecrets } from './secret-refs.ts';
import { checkAnsibleFields } from './ansible-fields.ts';
import { didYouMean } from './suggest.ts';
import { readYaml } from './yaml-file.ts';

const VAR_EXTS = ['.yml', '.yaml', '.json'];

export function readVarsFiles(
  ctx: LoadContext,
  flavor: Flavor,
  known: { groups: string[]; hosts: string[] },
  problems: Problems,
): VarsFiles {
  return {
    groups: readKind(join(ctx.baseDir, 'group_vars'), 'group', known.groups, ctx, flavor, problems),
    hosts: readKind(join(ctx.baseDir, 'host_vars'), 'host', known.hosts, ctx, flavor, problems),
  };
}

function readKind(
  dir: string,
  kind: 'group' | 'host',
  names: string[],
  ctx: LoadContext,
  flavor: Flavor,
  problems: Problems,
): Map<string, VarLayer[]> {
  const out = new Map<string, VarLayer[]>();
  if (!isDir(dir)) return out;
  for (const entry of readdirSync(dir).sort()) {
    if (entry.startsWith('.')) continue;
    const path = join(dir, entry);
    const directory = isDir(path);
    const ext = extname(entry);
    const stripped = !directory && VAR_EXTS.includes(ext) ? entry.slice(0, -ext.length) : entry;
    const name = names.includes(stripped) ? stripped : names.includes(entry) ? entry : undefined;
    if (name === undefined) {
      // README.md, *.retry, editor backups: not vars files.
      if (!directory && ext !== '' && !VAR_EXTS.includes(ext)) continue;
      problems.add({ file: path, detail: `unknown ${kind} "${stripped}"${didYouMean(stripped, names)}` });
      continue;
    }
    const files = directory ? listVarFiles(path) : [path];
    const layers = out.get(name) ?? [];
    for (const file of files) {
      const layer = readLayer(file, kind, name, ctx, flavor, problems);
      if (layer) layers.push(layer);
    }
    out.set(name, layers);
  }
  return out;
}

function readLayer(file: string, kind: 'group' | 'host', name: string, ctx: LoadContext, flavor: Flavor, problems: Problems): VarLayer | undefined {
  const data = readYaml(file, flavor);
  if (data === null || data === undefined) return undefined;
  const scope = kind === 'group' && name !== 'all' ? { group: name } : kind === 'host' ? { host: name } : {};
  if (typeof data !== 'object' || Array.isArray(data)) {
    problems.add({ file, ...scope, detail: `expected a mapping of vars, got ${describeValue(data)}` });
    return undefined;
  }
  const vars = data as Record<string, unknown>;
  if (flavor === 'rigger') rejectAnsibleKeys(vars, { file, ...scope }, '', problems);
  else checkAnsibleFields(vars, { file, ...scope }, problems);
  const resolved = resolveSecrets(
    vars,
    { file, ...scope, baseDir: ctx.baseDir, env: ctx.env, ...(flavor === 'ansible' ? { skipKey: isAnsibleKey } : {}) },
    problems,
  );
  return { vars: resolved, file };
}

function listVarFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir).sort()) {
    if (entry.startsWith('.')) continue;
    const path = join(dir, entry);
    if (isDir(path)) out.push(...listVarFiles(path));
    else if (extname(entry) === '' || VAR_EXTS.includes(extname(entry))) out.push(path);
  }
  return out;
}

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
