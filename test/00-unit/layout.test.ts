/**
 * The import rules of the README's layout section, read from the code: a role imports `src/`
 * and its own folder, another role only through that role's exports.ts and only when it
 * declares the dependency; `src/` never imports roles or playbooks; lower layers never import
 * higher ones.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Role } from '../../src/engine/role.ts';

const root = resolve(import.meta.dirname, '../..');

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? tsFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Relative imports of a file (static, dynamic and re-exports), as repository paths. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:from|import)\s*\(?\s*'(\.[^']+)'/g)].map((m) => relative(root, resolve(dirname(file), m[1]!)));
}

const roleNames = readdirSync(join(root, 'roles')).filter((n) => statSync(join(root, 'roles', n)).isDirectory());

describe('layout rules', () => {
  it('a role imports src/, its own folder, and only the exports.ts of roles it depends on', async () => {
    const problems: string[] = [];
    for (const name of roleNames) {
      const role = ((await import(join(root, 'roles', name, 'index.ts'))) as { default: Role }).default;
      const deps = new Set(role.dependsOn ?? []);
      for (const file of tsFiles(join(root, 'roles', name))) {
        for (const target of importsOf(file)) {
          if (target.startsWith('src/') || target.startsWith(`roles/${name}/`)) continue;
          const m = /^roles\/([^/]+)\/exports\.ts$/.exec(target);
          if (m && deps.has(m[1]!)) continue;
          problems.push(`${relative(root, file)} imports ${target}${m ? ` (add '${m[1]}' to dependsOn)` : ''}`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('every declared dependency is a role', async () => {
    for (const name of roleNames) {
      const role = ((await import(join(root, 'roles', name, 'index.ts'))) as { default: Role }).default;
      expect(role.name).toBe(name);
      for (const d of role.dependsOn ?? []) expect(roleNames).toContain(d);
    }
  });

  it('src/ never imports roles or playbooks, and lower layers never import higher ones', () => {
    // Each folder of src/ with the folders it may import (besides itself).
    const allowed: Record<string, string[]> = {
      core: [],
      inventory: ['core'],
      transport: ['core', 'inventory'],
      facts: ['core', 'transport'],
      ops: ['core', 'transport', 'engine', 'facts'],
      engine: ['core', 'transport', 'inventory', 'facts'],
      toolkit: ['core', 'transport', 'inventory', 'engine', 'facts', 'ops'],
      report: ['core', 'engine', 'inventory'],
      cli: ['core', 'transport', 'inventory', 'engine', 'facts', 'report', 'toolkit'],
      lab: ['core', 'transport', 'inventory'],
    };
    const problems: string[] = [];
    for (const file of tsFiles(join(root, 'src'))) {
      const layer = relative(join(root, 'src'), file).split('/')[0]!;
      for (const target of importsOf(file)) {
        const [top, sub] = target.split('/');
        if (top !== 'src') {
          problems.push(`${relative(root, file)} imports ${target}`);
          continue;
        }
        if (sub === layer) continue;
        if (!(allowed[layer] ?? []).includes(sub!)) problems.push(`${relative(root, file)} (${layer}) imports ${target}`);
      }
    }
    expect(problems).toEqual([]);
  });
});
