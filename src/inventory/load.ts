/**
 * loadInventory: a directory or a file, in any supported form, to the resolved Inventory.
 *   - directory: inventory.ts, hosts.yml/.yaml (ours or Ansible's YAML, told apart by
 *     content), or an Ansible INI file (hosts, hosts.ini, inventory, *.ini);
 *   - file: .ts/.mts -> TypeScript; .yml/.yaml/.json -> YAML; anything else -> YAML when it
 *     parses to a mapping, otherwise Ansible INI.
 * group_vars/ and host_vars/ are read from the inventory file's directory.
 */
import { readdirSync, statSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseDocument } from 'yaml';
import { fromAnsibleIni } from './ansible-ini.ts';
import { fromAnsibleYaml, looksLikeAnsibleYaml } from './ansible-yaml.ts';
import { isDefinedInventory } from './define.ts';
import { InventoryError, Problems, displayPath } from './errors.ts';
import { buildInventory, type BuildOptions } from './merge.ts';
import { fromOurForm, type LoadContext } from './ours.ts';
import type { RawInventory } from './raw.ts';
import type { Inventory } from './types.ts';
import { readVarsFiles } from './vars-files.ts';
import { parseYaml, readText } from './yaml-file.ts';

export type LoadOptions = BuildOptions;

/** Inventory file names looked for in a directory, in this order. */
const DIR_CANDIDATES = ['inventory.ts', 'hosts.yml', 'hosts.yaml', 'hosts', 'hosts.ini', 'inventory.yml', 'inventory.yaml', 'inventory', 'inventory.ini'];

export async function loadInventory(path: string, opts: LoadOptions = {}): Promise<Inventory> {
  const abs = resolve(path);
  const file = isDirectory(abs) ? pickFile(abs) : abs;
  const ctx: LoadContext = { source: path, baseDir: dirname(file), env: opts.env ?? process.env };
  const raw = await loadRaw(file, ctx);
  const problems = new Problems();
  const groups = ['all', ...raw.groups.map((g) => g.name), ...(raw.flavor === 'ansible' ? ['ungrouped'] : [])];
  const files = readVarsFiles(ctx, raw.flavor, { groups: [...new Set(groups)], hosts: raw.hosts.map((h) => h.name) }, problems);
  problems.throwIfAny();
  return buildInventory(raw, files, opts);
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new InventoryError({ file: path, detail: code === 'ENOENT' ? 'no such file or directory' : `cannot read (${code ?? String(e)})` });
  }
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function pickFile(dir: string): string {
  const found = DIR_CANDIDATES.filter((n) => isFile(join(dir, n)));
  for (const n of readdirSync(dir).sort()) if (n.endsWith('.ini') && !found.includes(n) && isFile(join(dir, n))) found.push(n);
  if (found.length === 0) {
    throw new InventoryError({ file: dir, detail: `no inventory file here (looked for ${DIR_CANDIDATES.join(', ')}, *.ini)` });
  }
  if (found.length > 1) {
    throw new InventoryError({ file: dir, detail: `more than one inventory file (${found.join(', ')}): keep one, or point -i at the file` });
  }
  return join(dir, found[0]!);
}

async function loadRaw(file: string, ctx: LoadContext): Promise<RawInventory> {
  const ext = extname(file).toLowerCase();
  if (ext === '.ts' || ext === '.mts') return fromOurForm(await importDefinition(file), file, ctx);
  if (ext === '.ini') return fromAnsibleIni(readText(file), file, ctx);
  const text = readText(file);
  if (ext === '.yml' || ext === '.yaml' || ext === '.json') return fromYaml(text, file, ctx);
  return looksLikeYamlMapping(text) ? fromYaml(text, file, ctx) : fromAnsibleIni(text, file, ctx);
}

function fromYaml(text: string, file: string, ctx: LoadContext): RawInventory {
  const data = parseYaml(text, file, 'rigger');
  if (looksLikeAnsibleYaml(data)) return fromAnsibleYaml(parseYaml(text, file, 'ansible'), file, ctx);
  return fromOurForm(data ?? {}, file, ctx);
}

/** An extension-less file (`hosts`) is YAML when it parses to a mapping; INI lines do not. */
function looksLikeYamlMapping(text: string): boolean {
  const doc = parseDocument(text, { prettyErrors: false });
  if (doc.errors.length) return false;
  const v: unknown = doc.toJS();
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

async function importDefinition(file: string): Promise<unknown> {
  let mod: { default?: unknown };
  try {
    mod = (await import(pathToFileURL(file).href)) as { default?: unknown };
  } catch (e) {
    throw new InventoryError({ file, detail: `cannot load: ${e instanceof Error ? e.message : String(e)}` });
  }
  if (isDefinedInventory(mod.default)) return mod.default.definition;
  throw new InventoryError({
    file,
    detail: `expected \`export default defineInventory({ ... })\` in ${basename(displayPath(file))}`,
  });
}
