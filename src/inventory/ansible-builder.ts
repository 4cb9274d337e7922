/**
 * What the Ansible INI and YAML readers share: hosts and groups collected in the order they
 * first appear, as a RawInventory. ansible_* connection vars stay in the vars here and are
 * mapped to the connection after merging (merge.ts), since Ansible lets any level set them.
 */
import { Problems } from './errors.ts';
import type { LoadContext } from './ours.ts';
import { NAME_RE, type RawGroup, type RawHost, type RawInventory, type VarLayer } from './raw.ts';
import { resolveSecrets } from './secret-refs.ts';
import { checkAnsibleFields } from './ansible-fields.ts';
import type { Vars } from './types.ts';

/**
 * Ansible's own connection vars are mapped later (or refused here, see ansible-fields.ts), never
 * wrapped or kept as vars.
 */
export const isAnsibleKey = (key: string): boolean => key.startsWith('ansible_');

/** Accumulates hosts and groups in the order they first appear. */
export class AnsibleBuilder {
  readonly hosts = new Map<string, RawHost>();
  readonly groups = new Map<string, RawGroup>();
  readonly globalLayers: VarLayer[] = [];
  readonly problems = new Problems();
  constructor(readonly ctx: LoadContext) {}

  host(name: string, file: string): RawHost {
    let h = this.hosts.get(name);
    if (!h) {
      if (!NAME_RE.test(name)) this.problems.add({ file, host: name, detail: 'invalid host name (letters, digits, _ . - @; no pattern characters)' });
      h = { name, file, connection: {}, layers: [] };
      this.hosts.set(name, h);
    }
    return h;
  }

  /** `all` is implicit and never stored; its vars are the inventory-wide vars. */
  group(name: string, file: string): RawGroup | undefined {
    if (name === 'all') return undefined;
    let g = this.groups.get(name);
    if (!g) {
      if (!NAME_RE.test(name)) this.problems.add({ file, group: name, detail: 'invalid group name (letters, digits, _ . - @; no pattern characters)' });
      g = { name, file, hosts: [], children: [], layers: [] };
      this.groups.set(name, g);
    }
    return g;
  }

  member(group: string, host: string, file: string): void {
    this.host(host, file);
    const g = this.group(group, file);
    if (g && !g.hosts.includes(host)) g.hosts.push(host);
  }

  child(parent: string, child: string, file: string): void {
    const g = this.group(parent, file);
    this.group(child, file);
    if (g && child !== 'all' && !g.children.includes(child)) g.children.push(child);
  }

  hostVars(name: string, vars: Vars, file: string): void {
    if (Object.keys(vars).length === 0) return;
    checkAnsibleFields(vars, { file, host: name }, this.problems);
    const resolved = resolveSecrets(vars, { file, host: name, baseDir: this.ctx.baseDir, env: this.ctx.env, skipKey: isAnsibleKey }, this.problems);
    this.host(name, file).layers.push({ vars: resolved, file });
  }

  groupVars(name: string, vars: Vars, file: string): void {
    if (Object.keys(vars).length === 0) return;
    checkAnsibleFields(vars, { file, ...(name === 'all' ? {} : { group: name }) }, this.problems);
    const resolved = resolveSecrets(
      vars,
      { file, ...(name === 'all' ? {} : { group: name }), baseDir: this.ctx.baseDir, env: this.ctx.env, skipKey: isAnsibleKey },
      this.problems,
    );
    const g = this.group(name, file);
    if (g) g.layers.push({ vars: resolved, file, inlineGroup: name });
    else this.globalLayers.push({ vars: resolved, file });
  }

  finish(file: string): RawInventory {
    this.problems.throwIfAny();
    return {
      flavor: 'ansible',
      source: this.ctx.source,
      file,
      baseDir: this.ctx.baseDir,
      connection: {},
      globalLayers: this.globalLayers,
      hosts: [...this.hosts.values()],
      groups: [...this.groups.values()],
    };
  }
}
