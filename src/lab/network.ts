/**
 * The lab's network on the control machine: one bridge per instance holding its gateway
 * address, NAT for the lab subnet, and forwarding rules that let the hosts reach the Debian
 * mirror (and nothing else outside the lab). Every rule carries the instance's comment tag,
 * so `down` removes exactly the rules it added and nobody else's.
 */
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { knownInstances, STATE_ROOT, type Instance } from './instance.ts';
import { LabError, check, run } from './run.ts';

interface Rule {
  table: 'nat' | 'filter';
  chain: 'POSTROUTING' | 'FORWARD';
  spec: string[];
}

const IPT = ['iptables', '-w', '10'];
const FORWARD_FLAG = '/proc/sys/net/ipv4/ip_forward';
const forwardSaved = join(STATE_ROOT, 'ip_forward.orig');

/** IPv4 addresses of the mirror as the control machine resolves it. */
export async function resolveMirror(host: string): Promise<string[]> {
  const r = await run(['getent', 'ahostsv4', host]);
  const ips = [...new Set(r.stdout.split('\n').map((l) => l.split(/\s+/)[0]!).filter((ip) => /^\d+\.\d+\.\d+\.\d+$/.test(ip)))];
  if (ips.length === 0) throw new LabError(`cannot resolve ${host} on this machine`, `make ${host} resolvable here (DNS or /etc/hosts): the lab hosts get its address`);
  return ips;
}

function desiredRules(inst: Instance, mirrorIps: readonly string[]): Rule[] {
  const tag = ['-m', 'comment', '--comment', inst.ruleTag];
  const br = inst.bridge;
  const rules: Rule[] = [{ table: 'nat', chain: 'POSTROUTING', spec: ['-s', inst.subnet, '!', '-o', br, ...tag, '-j', 'MASQUERADE'] }];
  // FORWARD rules in the order they must match: replies in, the mirror out, anything else out refused.
  rules.push({ table: 'filter', chain: 'FORWARD', spec: ['-o', br, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', ...tag, '-j', 'ACCEPT'] });
  for (const ip of mirrorIps) {
    for (const port of ['80', '443']) {
      rules.push({ table: 'filter', chain: 'FORWARD', spec: ['-i', br, '-d', `${ip}/32`, '-p', 'tcp', '-m', 'tcp', '--dport', port, ...tag, '-j', 'ACCEPT'] });
    }
  }
  rules.push({ table: 'filter', chain: 'FORWARD', spec: ['-i', br, '!', '-o', br, ...tag, '-j', 'REJECT'] });
  return rules;
}

/** Words of one `iptables -S` line (double-quoted words unquoted). */
function words(line: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(line); m; m = re.exec(line)) out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]!);
  return out;
}

/** This instance's rules as they are now, as `-A CHAIN ...` word lists. */
async function taggedRules(inst: Instance): Promise<{ table: Rule['table']; words: string[] }[]> {
  const found: { table: Rule['table']; words: string[] }[] = [];
  for (const [table, chain] of [['nat', 'POSTROUTING'], ['filter', 'FORWARD']] as const) {
    const r = await run([...IPT, '-t', table, '-S', chain]);
    if (r.code !== 0) continue;
    for (const line of r.stdout.split('\n')) {
      const w = words(line);
      const i = w.indexOf('--comment');
      if (w[0] === '-A' && i > 0 && w[i + 1] === inst.ruleTag) found.push({ table, words: w });
    }
  }
  return found;
}

export async function removeRules(inst: Instance): Promise<number> {
  const rules = await taggedRules(inst);
  for (const r of rules) await check([...IPT, '-t', r.table, '-D', ...r.words.slice(1)]);
  return rules.length;
}

async function ensureRules(inst: Instance, mirrorIps: readonly string[]): Promise<void> {
  const want = desiredRules(inst, mirrorIps);
  const have = await taggedRules(inst);
  let complete = have.length === want.length;
  for (const r of want) {
    if (!complete) break;
    complete = (await run([...IPT, '-t', r.table, '-C', r.chain, ...r.spec])).code === 0;
  }
  if (complete) return;
  await removeRules(inst);
  for (const r of want.filter((x) => x.chain === 'POSTROUTING')) await check([...IPT, '-t', r.table, '-A', r.chain, ...r.spec]);
  // Inserted at the top (before any DROP policy rules of other tools), last one first.
  for (const r of want.filter((x) => x.chain === 'FORWARD').reverse()) await check([...IPT, '-t', r.table, '-I', r.chain, '1', ...r.spec]);
}

export async function bridgeExists(name: string): Promise<boolean> {
  return (await run(['ip', 'link', 'show', 'dev', name])).code === 0;
}

export async function ensureNetwork(inst: Instance, mirrorIps: readonly string[]): Promise<void> {
  if (!(await bridgeExists(inst.bridge))) {
    // A fixed MAC: by default a bridge takes the lowest MAC of its ports, and changes it when that
    // host goes away, leaving the other hosts with a stale ARP entry for their gateway.
    const mac = `02:72:69:67:00:${inst.octet.toString(16).padStart(2, '0')}`;
    await check(['ip', 'link', 'add', inst.bridge, 'address', mac, 'type', 'bridge']);
  }
  const addrs = await check(['ip', '-4', '-o', 'addr', 'show', 'dev', inst.bridge]);
  if (!addrs.includes(` ${inst.gateway}/`)) await check(['ip', 'addr', 'add', `${inst.gateway}/${inst.prefix}`, 'dev', inst.bridge]);
  await check(['ip', 'link', 'set', 'dev', inst.bridge, 'up']);
  enableForwarding();
  await ensureRules(inst, mirrorIps);
}

/** Removes what ensureNetwork made; safe to call when some or all of it is missing. */
/**
 * The host sides of this instance's veth pairs (vb-<inst>-<host>) that outlive their stopped
 * containers: the kernel drops a pair with its container's namespace, which this machine's PID 1
 * (reaping late) can keep for over a minute, and booting the host again then fails ("Failed to
 * add new veth interfaces ... File exists"). Deleting our side deletes the pair. `only`: one host.
 */
export async function removeStaleVeths(inst: Instance, only?: string): Promise<string[]> {
  const prefix = `vb-${inst.name}-`;
  let names: string[] = [];
  try {
    names = readdirSync('/sys/class/net').filter((n) => n.startsWith(prefix) && (only === undefined || n === `${prefix}${only}`.slice(0, 15)));
  } catch {
    return [];
  }
  for (const n of names) await run(['ip', 'link', 'del', 'dev', n]);
  return names;
}

export async function teardownNetwork(inst: Instance): Promise<void> {
  await removeStaleVeths(inst);
  await removeRules(inst);
  if (await bridgeExists(inst.bridge)) await check(['ip', 'link', 'del', 'dev', inst.bridge]);
  const othersUp = [];
  for (const other of knownInstances()) if (other.name !== inst.name && (await bridgeExists(other.bridge))) othersUp.push(other.name);
  if (othersUp.length === 0) restoreForwarding();
}

function enableForwarding(): void {
  const now = readFileSync(FORWARD_FLAG, 'utf8').trim();
  if (now === '1') return;
  if (!existsSync(forwardSaved)) writeFileSync(forwardSaved, `${now}\n`);
  writeFileSync(FORWARD_FLAG, '1\n');
}

/** Puts ip_forward back as it was before the first lab came up. */
function restoreForwarding(): void {
  if (!existsSync(forwardSaved)) return;
  writeFileSync(FORWARD_FLAG, `${readFileSync(forwardSaved, 'utf8').trim()}\n`);
  rmSync(forwardSaved);
}
