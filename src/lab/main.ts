/**
 * `npm run lab -- <verb>`: a lab of real Debian hosts (systemd-nspawn) on this machine.
 * The instance comes from RIGGER_LAB (default `lab`).
 */
import { spawnSync } from 'node:child_process';
import { instanceName, resolveInstance, type Instance } from './instance.ts';
import * as lab from './lab.ts';
import { requireRoot } from './prereqs.ts';
import { parseRelease } from './release.ts';
import { LabError } from './run.ts';
import { sshOptions } from './ssh.ts';
import { GROUP_NAME, HOST_NAME, TOPOLOGIES, TopologySchema, type Topology } from './topology.ts';

const USAGE = `usage: npm run lab -- <verb> [args]     (instance: RIGGER_LAB, default "lab")
  up [--topology NAME]        bring the lab up (idempotent; builds the base image once); the
                              topology (default, colocated) is chosen at the first up and kept
  up [--release 12|13]        Debian release of the hosts, likewise chosen at the first up and kept
  down                        remove every host, mount, link and NAT rule of the instance
  status [--json]             hosts, state, memory
  add HOST [--groups g1,g2]   boot one more host and add it to the inventory
  remove HOST                 power a host off, delete it, drop it from the inventory
  start HOST                  boot a stopped or killed host (filesystem intact)
  stop HOST                   clean poweroff
  kill HOST                   hard stop, like a power cut
  partition HOST              cut the host off the lab network (it keeps running)
  heal HOST                   reconnect it
  ssh HOST [CMD...]           OpenSSH with the lab key and known_hosts (strict host key checking)
  exec HOST CMD...            run CMD inside the host through nsenter (for the lab itself)`;

const say = (m: string) => process.stdout.write(`${m}\n`);
const note = (m: string) => process.stderr.write(`lab: ${m}\n`);

function hostArg(args: string[], verb: string): string {
  const host = args[0];
  if (!host) throw new LabError(`${verb} needs a host name`, USAGE.split('\n').find((l) => l.trim().startsWith(verb))?.trim());
  if (!HOST_NAME.test(host)) throw new LabError(`bad host name ${JSON.stringify(host)}: 1-12 lowercase letters/digits, starting with a letter`);
  return host;
}

function groupsArg(args: string[]): string[] | undefined {
  const i = args.indexOf('--groups');
  if (i < 0) return undefined;
  const groups = (args[i + 1] ?? '').split(',').filter(Boolean);
  for (const g of groups) if (!GROUP_NAME.test(g)) throw new LabError(`bad group name ${JSON.stringify(g)}`);
  return groups;
}

function topologyArg(args: string[]): Topology | undefined {
  const i = args.indexOf('--topology');
  if (i < 0) return undefined;
  const t = TopologySchema.safeParse(args[i + 1]);
  if (!t.success) throw new LabError(`bad topology ${JSON.stringify(args[i + 1] ?? '')}: one of ${TOPOLOGIES.join(', ')}`);
  return t.data;
}

async function main(argv: string[]): Promise<number> {
  const [verb, ...args] = argv;
  if (!verb || verb === 'help' || verb === '--help' || verb === '-h') {
    say(USAGE);
    return verb ? 0 : 2;
  }
  requireRoot();
  const inst = await resolveInstance(instanceName(), verb === 'up' || verb === 'add');
  if (!inst) {
    say(`lab instance ${instanceName()} does not exist (nothing to ${verb})`);
    return verb === 'down' || verb === 'status' ? 0 : 1;
  }
  const t0 = Date.now();
  switch (verb) {
    case 'up': {
      const topology = topologyArg(args);
      const r = args.indexOf('--release');
      const release = r < 0 ? undefined : parseRelease(args[r + 1]);
      const hosts = await lab.up(inst, note, { ...(topology ? { topology } : {}), ...(release ? { release } : {}) });
      say(`lab ${inst.name} up in ${secs(t0)}: ${hosts.map((h) => `${h.name} ${h.address}`).join(', ')}`);
      say(`inventory: ${inst.inventoryPath}`);
      return 0;
    }
    case 'down':
      await lab.down(inst, note);
      say(`lab ${inst.name} down in ${secs(t0)}`);
      return 0;
    case 'status':
      return printStatus(inst, args.includes('--json'));
    case 'add': {
      const h = await lab.add(inst, hostArg(args, verb), groupsArg(args), note);
      say(`${h.name} up at ${h.address} in ${secs(t0)}`);
      return 0;
    }
    case 'remove':
      await lab.remove(inst, hostArg(args, verb));
      say(`${args[0]} removed`);
      return 0;
    case 'start': {
      const h = await lab.start(inst, hostArg(args, verb), note);
      say(`${h.name} running at ${h.address} in ${secs(t0)}`);
      return 0;
    }
    case 'stop':
    case 'kill':
    case 'partition':
    case 'heal':
      say(await lab.fault(inst, verb, hostArg(args, verb)));
      return 0;
    case 'ssh': {
      const host = hostArg(args, verb);
      const r = spawnSync('ssh', [...sshOptions(inst), `root@${lab.addressOf(inst, host)}`, ...args.slice(1)], { stdio: 'inherit' });
      return r.status ?? 1;
    }
    case 'exec': {
      const host = hostArg(args, verb);
      if (args.length < 2) throw new LabError('exec needs a command', `npm run lab -- exec ${host} systemctl status`);
      const leader = lab.leaderPid(inst, host);
      if (!leader) throw new LabError(`${host} is not running`, `npm run lab -- start ${host}`);
      const env = ['env', '-i', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOME=/root', `TERM=${process.env.TERM ?? 'dumb'}`];
      // Like ssh: the words are joined and run by the host's /bin/sh.
      const r = spawnSync('nsenter', ['-t', String(leader), '-a', '-r', '-w', ...env, '/bin/sh', '-c', args.slice(1).join(' ')], { stdio: 'inherit' });
      return r.status ?? 1;
    }
    default:
      throw new LabError(`unknown verb ${JSON.stringify(verb)}`, USAGE);
  }
}

async function printStatus(inst: Instance, json: boolean): Promise<number> {
  const s = await lab.status(inst);
  if (json) {
    say(JSON.stringify({ instance: inst.name, subnet: inst.subnet, bridge: inst.bridge, vip: inst.vip, ...s }, null, 2));
    return 0;
  }
  say(`lab ${inst.name}: ${s.up ? 'up' : 'down'} (bridge ${inst.bridge}, ${inst.subnet}, vip ${inst.vip})`);
  for (const h of s.hosts) {
    const state = h.state === 'running' ? `${h.systemd ?? '?'}${h.partitioned ? ', PARTITIONED' : ''}` : h.state;
    const mem = h.memoryKib !== undefined ? `${(h.memoryKib / 1024).toFixed(0)} MiB` : '';
    say(`  ${h.name.padEnd(9)} ${h.address.padEnd(13)} ${state.padEnd(22)} ${mem.padStart(8)}  ${h.groups.join(',')}`);
  }
  return 0;
}

function secs(t0: number): string {
  return `${((Date.now() - t0) / 1000).toFixed(1)} s`;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    if (e instanceof LabError) {
      process.stderr.write(`lab: ${e.message}\n${e.fix ? `  fix: ${e.fix}\n` : ''}`);
    } else {
      process.stderr.write(`lab: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    }
    process.exit(1);
  },
);
