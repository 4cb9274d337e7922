/**
 * Reads one YAML file. Our files are YAML 1.2 (`on` stays a string); Ansible's are read as
 * YAML 1.1, as Ansible (PyYAML) reads them, so `yes`/`on` mean what they meant there.
 * Parse errors carry file:line:col.
 */
import { readFileSync } from 'node:fs';
import { parseDocument, type ScalarTag } from 'yaml';
import { InventoryError, displayPath } from './errors.ts';
import { VaultValue } from './secret-refs.ts';
import type { Flavor } from './raw.ts';

const vaultTag: ScalarTag = {
  tag: '!vault',
  resolve: () => new VaultValue(),
};

export function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new InventoryError({ file, detail: `cannot read (${(e as NodeJS.ErrnoException).code ?? String(e)})` });
  }
}

export function parseYaml(text: string, file: string, flavor: Flavor): unknown {
  if (text.startsWith('$ANSIBLE_VAULT')) {
    throw new InventoryError({
      file,
      detail: 'ansible-vault encrypted files are not supported: use { secret: { env: NAME } } or { secret: { file: PATH } }',
    });
  }
  const doc = parseDocument(text, {
    version: flavor === 'ansible' ? '1.1' : '1.2',
    merge: true,
    uniqueKeys: true,
    customTags: flavor === 'ansible' ? [vaultTag] : [],
  });
  const err = doc.errors[0];
  if (err) {
    const pos = err.linePos?.[0];
    const at = pos ? `${displayPath(file)}:${pos.line}:${pos.col}` : file;
    throw new InventoryError({ file: at, detail: `invalid YAML: ${err.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}` });
  }
  return doc.toJS({ maxAliasCount: 1000 });
}

export function readYaml(file: string, flavor: Flavor): unknown {
  return parseYaml(readText(file), file, flavor);
}
