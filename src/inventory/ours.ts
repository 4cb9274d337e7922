/**
 * Our inventory form, from hosts.yml or from inventory.ts's `defineInventory({...})`:
 * validated with the strict schema, names and references checked, secrets resolved.
 */
import { parseJump } from './jump.ts';
import { Problems, type InventoryProblem } from './errors.ts';
import { resolvePath } from './paths.ts';
import { NAME_RE, type ConnectionOverrides, type RawGroup, type RawHost, type RawInventory, type VarLayer } from './raw.ts';
import { InventoryFileSchema, schemaProblems, type HostEntry } from './schema.ts';
import { resolveSecrets, type SecretScope } from './secret-refs.ts';
import { didYouMean } from './suggest.ts';
import type { Vars } from './types.ts';

export interface LoadContext {
  source: string;
  baseDir: string;
  env: NodeJS.ProcessEnv;
}

/** Ansible connection vars have their own fields in our form; a silent no-op would mislead. */
const ANSIBLE_TO_OURS: Record<string, string> = {
  ansible_host: 'address',
  ansible_port: 'port',
  ansible_user: 'user',
  ansible_ssh_private_key_file: 'privateKey',
  ansible_become: 'become',
  ansible_connection: 'transport',
};

export function rejectAnsibleKeys(vars: Vars, where: Omit<InventoryProblem, 'detail'>, prefix: string, problems: Problems): void {
  for (const key of Object.keys(vars)) {
    if (!key.startsWith('ansible_')) continue;
    const ours = ANSIBLE_TO_OURS[key];
    problems.add({
      ...where,
      field: prefix + key,
      detail: `Ansible connection vars are not read in the rigger form${ours ? `: set \`${ours}\` on the host or under \`connection:\`` : ''}`,
    });
  }
}

export function fromOurForm(data: unknown, file: string, ctx: LoadContext): RawInventory {
  const parsed = InventoryFileSchema.safeParse(data);
  if (!parsed.success) {
    const problems = new Problems();
    for (const p of schemaProblems(file, data, parsed.error.issues)) problems.add(p);
    problems.throwIfAny();
  }
  const inv = parsed.data!;
  const problems = new Problems();
  const scope = (extra: Partial<SecretScope>): SecretScope => ({ file, baseDir: ctx.baseDir, env: ctx.env, ...extra });
  const layer = (vars: Vars | undefined, s: SecretScope, inlineGroup?: string): VarLayer[] => {
    if (!vars || Object.keys(vars).length === 0) return [];
    const where = { file, ...(s.host ? { host: s.host } : {}), ...(s.group ? { group: s.group } : {}) };
    rejectAnsibleKeys(vars, where, 'vars.', problems);
    return [{ vars: resolveSecrets(vars, s, problems), file, ...(inlineGroup ? { inlineGroup } : {}) }];
  };

  const hostNames = Object.keys(inv.hosts);
  const groupNames = Object.keys(inv.groups ?? {});
  for (const h of hostNames) {
    if (!NAME_RE.test(h)) problems.add({ file, host: h, detail: 'invalid host name (letters, digits, _ . - @; no pattern characters)' });
  }
  for (const g of groupNames) {
    if (g === 'all') problems.add({ file, group: g, detail: 'the group "all" is implicit: put inventory-wide vars under the top-level `vars:`' });
    else if (!NAME_RE.test(g)) problems.add({ file, group: g, detail: 'invalid group name (letters, digits, _ . - @; no pattern characters)' });
    else if (hostNames.includes(g)) problems.add({ file, group: g, detail: `a host is also named "${g}": patterns could not tell them apart` });
  }

  const hosts: RawHost[] = hostNames.map((name) => {
    const entry: HostEntry = inv.hosts[name] ?? {};
    return {
      name,
      file,
      connection: connectionOf(entry, ctx),
      layers: layer(entry.vars, scope({ host: name, fieldPrefix: ['vars'] })),
    };
  });

  const groups: RawGroup[] = groupNames.map((name) => {
    const entry = inv.groups?.[name] ?? {};
    const members = entry.hosts ?? [];
    const children = entry.children ?? [];
    members.forEach((h, i) => {
      if (!(h in inv.hosts)) problems.add({ file, group: name, field: `hosts[${i}]`, detail: `unknown host "${h}"${didYouMean(h, hostNames)}` });
    });
    children.forEach((c, i) => {
      if (!groupNames.includes(c)) {
        problems.add({ file, group: name, field: `children[${i}]`, detail: `unknown group "${c}"${didYouMean(c, groupNames)}` });
      }
    });
    return {
      name,
      file,
      hosts: [...new Set(members)],
      children: [...new Set(children)],
      layers: layer(entry.vars, scope({ group: name, fieldPrefix: ['vars'] }), name),
    };
  });

  const globalLayers = layer(inv.vars, scope({ fieldPrefix: ['vars'] }));
  problems.throwIfAny();
  return {
    flavor: 'rigger',
    source: ctx.source,
    file,
    baseDir: ctx.baseDir,
    connection: connectionOf(inv.connection ?? {}, ctx),
    globalLayers,
    hosts,
    groups,
  };
}

function connectionOf(c: Omit<HostEntry, 'vars'>, ctx: LoadContext): ConnectionOverrides {
  const out: ConnectionOverrides = {};
  if (c.address !== undefined) out.address = c.address;
  if (c.port !== undefined) out.port = c.port;
  if (c.user !== undefined) out.user = c.user;
  if (c.privateKey !== undefined) out.privateKey = resolvePath(c.privateKey, ctx.baseDir, ctx.env);
  if (c.knownHosts !== undefined) out.knownHosts = resolvePath(c.knownHosts, ctx.baseDir, ctx.env);
  if (c.become !== undefined) out.become = c.become;
  if (c.connectTimeoutMs !== undefined) out.connectTimeoutMs = c.connectTimeoutMs;
  if (c.transport !== undefined) out.transport = c.transport;
  if (c.proxyJump !== undefined) out.proxyJump = parseJump(c.proxyJump)!; // the schema checked it
  return out;
}
