/**
 * Role etcd: the DCS quorum Patroni keeps its leader lock in. Bootstraps the members of the
 * `etcd` group together, joins a new member to a running cluster, and never touches the
 * data of a member of our cluster. See README.md.
 */
import { defineRole, type RoleContext } from '../../src/engine/role.ts';
import type { Task } from '../../src/engine/types.ts';
import { TaskError, journalTail, settleInside, stateKey, stateKeys, stepsFor, waitUntil } from '../../src/toolkit/index.ts';
import { shQuote } from '../../src/transport/types.ts';
import { file, packages, service } from '../../src/ops/index.ts';
import { EtcdVarsSchema, type EtcdVars } from './vars.ts';
import {
  ENV_FILE,
  etcdEnvFor,
  etcdHosts,
  httpUrl,
  inventoryMembers,
  isOurs,
  memberAddress,
  etcdVarsOf,
  parseEnvFile,
  renderEtcdEnv,
  runtimeSettingsDiffer,
} from './render.ts';
import { etcdctl, memberList, quorum, type EtcdMemberInfo } from './live.ts';

type Ctx = RoleContext<EtcdVars>;
const step = stepsFor<EtcdVars>();

/** What the inspection step found on one host; later steps and the handler read it. */
interface MemberPlan {
  /** /etc/default/etcd before this run ('' when absent). */
  previousText: string;
  previousOurs: boolean;
  /** Debian's default single-node member must go before this host can be a member of ours. */
  wipeStock: boolean;
  /** Add this host to the running cluster (member add) before it starts. */
  add: boolean;
  state: 'new' | 'existing';
  /** The rendered file, once the config step ran. */
  wantedText?: string;
  /** The config step changed the file in this run. */
  changedThisRun: boolean;
}

const planKey = stateKeys<MemberPlan>('etcd:plan');
/** (group): the members of this run that reached the inspection, and whether each holds our data. */
const inspectedKey = stateKeys<Map<string, boolean>>('etcd:inspected');
/** Restarts of members, one at a time across the run. */
const RESTARTS = stateKey<Promise<unknown>>('etcd:restart');

function planOf(ctx: Ctx): MemberPlan {
  const p = ctx.shared.get(planKey(ctx.host.name));
  if (!p) throw new TaskError('etcd: the inspection step did not run on this host');
  return p;
}

function ownPeerUrl(ctx: Ctx): string {
  return httpUrl(memberAddress(ctx.host, ctx.vars), ctx.vars.peerPort);
}

/** Client URLs of the other members (this host's own etcd may be Debian's default one). */
function otherClientUrls(ctx: Ctx): string[] {
  return etcdHosts(ctx.inventory, ctx.vars.group)
    .filter((h) => h.name !== ctx.host.name)
    .map((h) => {
      const v = etcdVarsOf(h, ctx.inventory);
      return httpUrl(memberAddress(h, v), v.clientPort);
    });
}

function localClientUrl(ctx: Ctx): string {
  return httpUrl('127.0.0.1', ctx.vars.clientPort);
}

const inspect = step({
  name: 'etcd: inspect this member and the cluster',
  inCheckMode: 'run',
  async run(ctx) {
    const v = ctx.vars;
    const r = await ctx.exec(
      [
        `if [ -d ${shQuote(`${v.dataDir}/member`)} ]; then echo data=yes; else echo data=no; fi`,
        `if command -v etcdctl >/dev/null 2>&1; then echo etcdctl=yes; else echo etcdctl=no; fi`,
        'echo @@file',
        `cat ${shQuote(ENV_FILE)} 2>/dev/null || true`,
      ].join('\n'),
    );
    const [head = '', previousText = ''] = r.stdout.split('@@file\n');
    const hasData = /^data=yes$/m.test(head);
    const previousOurs = isOurs(previousText);
    const plan: MemberPlan = { previousText, previousOurs, wipeStock: false, add: false, state: 'new', changedThisRun: false };
    ctx.shared.set(planKey(ctx.host.name), plan);
    // Who of the group is in this run, and who already holds our cluster's data: a member that
    // cannot read the member list may call the cluster new only if all are here and none has.
    ctx.shared.ensure(inspectedKey(v.group), () => new Map<string, boolean>()).set(ctx.host.name, hasData && previousOurs);
    await ctx.barrier('etcd: inspected');

    if (hasData && previousOurs) {
      // A member of our cluster: keep what it was started with; nothing is ever wiped here.
      plan.state = parseEnvFile(previousText).get('ETCD_INITIAL_CLUSTER_STATE') === 'existing' ? 'existing' : 'new';
      return { changed: false, message: 'member of the cluster (data present)' };
    }
    if (hasData) {
      if (parseEnvFile(previousText).has('ETCD_INITIAL_CLUSTER'))
        throw new TaskError(
          `${ENV_FILE} was not written by rigger and configures a cluster (ETCD_INITIAL_CLUSTER set), and ${v.dataDir} holds data: ` +
            'refusing to touch a member of a cluster we did not form. Adopt it by hand (compare its settings with the role\'s) or move its data away.',
        );
      // Debian starts etcd on install as a single-node member named after the host: never ours.
      plan.wipeStock = true;
    }

    // No data (or only Debian's default member): bootstrap with the others, or join a running cluster.
    const others = otherClientUrls(ctx);
    if (others.length === 0 || !/^etcdctl=yes$/m.test(head)) return { changed: false, message: describe(plan) };
    // Short: on a new cluster nobody answers yet (Debian's default members listen on loopback only).
    const live = await memberList(ctx, others, 2);
    if (!live.ok) {
      const existing = clusterMayExist(ctx);
      if (existing) throw new TaskError(`cannot read the etcd member list (${live.error}), and ${existing}: refusing to bootstrap a new cluster beside it. Bring a member back (or check the network), then run again.`);
      return { changed: false, message: describe(plan) };
    }
    const own = ownPeerUrl(ctx);
    const mine = live.members.find((m) => m.peerUrls.includes(own));
    if (mine && mine.name !== '')
      throw new TaskError(
        `the running cluster lists ${ctx.host.name} (${own}) as started member ${mine.name} (id ${mine.id}), but this host has no data for it. ` +
          `Remove the stale member first (${etcdctl(others, `member remove ${mine.id}`)}), then run again to join afresh.`,
      );
    plan.state = 'existing';
    plan.add = !mine;
    checkMembership(ctx, live.members, plan.add);
    return { changed: false, message: describe(plan) };
  },
});

/** Why a cluster may already exist (a member of the run has its data, or a member is not in the run), or null. */
function clusterMayExist(ctx: Ctx): string | null {
  const seen = ctx.shared.get(inspectedKey(ctx.vars.group)) ?? new Map<string, boolean>();
  const withData = [...seen].filter(([, has]) => has).map(([h]) => h);
  if (withData.length) return `${withData.join(', ')} already hold${withData.length === 1 ? 's' : ''} its data`;
  const absent = etcdHosts(ctx.inventory, ctx.vars.group).filter((h) => !seen.has(h.name)).map((h) => h.name);
  if (absent.length) return `${absent.join(', ')} of group "${ctx.vars.group}" ${absent.length === 1 ? 'is' : 'are'} not in this run (a running cluster may be there)`;
  return null;
}

function describe(p: MemberPlan): string {
  const what = p.add ? 'joins the running cluster' : p.state === 'existing' ? 'joins the running cluster (already added)' : 'bootstraps a new cluster with the other members';
  return p.wipeStock ? `${what}; Debian's default single-node member goes first` : what;
}

/** ETCD_INITIAL_CLUSTER of a joining member must list exactly the cluster's members: the inventory's. */
function checkMembership(ctx: Ctx, live: EtcdMemberInfo[], addingSelf: boolean): void {
  const want = inventoryMembers(ctx.inventory, ctx.vars.group);
  const livePeers = new Set(live.flatMap((m) => m.peerUrls));
  if (addingSelf) livePeers.add(ownPeerUrl(ctx));
  const missing = want.filter((m) => !livePeers.has(m.peerUrl)).map((m) => m.name);
  const extra = [...livePeers].filter((u) => !want.some((m) => m.peerUrl === u));
  // Other inventory members not in the cluster yet are fine only if they join in this same run.
  const notYet = missing.filter((n) => n !== ctx.host.name);
  if (extra.length > 0 || notYet.length > 0)
    throw new TaskError(
      `the running etcd cluster and the inventory group "${ctx.vars.group}" disagree` +
        `${extra.length ? `; in the cluster but not the inventory: ${extra.join(', ')}` : ''}` +
        `${notYet.length ? `; in the inventory but not the cluster: ${notYet.join(', ')}` : ''}` +
        '. Join new members one run at a time (-l <host>) and remove old ones with etcdctl member remove.',
    );
}

const wipeStock = step({
  name: "etcd: remove Debian's default single-node member",
  when: (c) => c.shared.get(planKey(c.host.name))?.wipeStock ?? false,
  async run(ctx) {
    const dir = ctx.vars.dataDir;
    await ctx.run(`systemctl stop etcd.service\nrm -rf -- ${shQuote(dir)}`);
    return { changed: true, summary: `stopped etcd and removed its default member in ${dir}` };
  },
});

const addMember = step({
  name: 'etcd: add this member to the running cluster',
  when: (c) => c.shared.get(planKey(c.host.name))?.add ?? false,
  async run(ctx) {
    const own = ownPeerUrl(ctx);
    await ctx.run(etcdctl(otherClientUrls(ctx), `member add ${shQuote(ctx.host.name)} --peer-urls=${shQuote(own)}`));
    return { changed: true, summary: `member add ${ctx.host.name} ${own}` };
  },
});

const configure = step({
  name: `etcd: ${ENV_FILE}`,
  inCheckMode: 'run',
  notify: ['restart etcd'],
  async run(ctx) {
    const plan = planOf(ctx);
    const text = renderEtcdEnv(etcdEnvFor(ctx.vars, ctx.host, ctx.inventory, plan.state));
    plan.wantedText = text;
    const out = await settleInside(ctx, file({ path: ENV_FILE, content: text, mode: '0644', owner: 'root', group: 'root' }));
    plan.changedThisRun = out.changed;
    return out;
  },
});

const allConfigured = step({
  name: 'etcd: wait until every member is configured',
  inCheckMode: 'run',
  async run(ctx) {
    await ctx.barrier('etcd: configured');
    return { changed: false };
  },
});

/** Every member of the group started and healthy, as the cluster itself reports it. */
async function waitHealthy(ctx: Ctx, what: string): Promise<{ message: string; down: string[] }> {
  const want = inventoryMembers(ctx.inventory, ctx.vars.group);
  // Members of the group this run does not reach (down, partitioned, outside --limit) may be
  // down: a healthy majority with every member of the run is a healthy quorum.
  const inRun = ctx.shared.get(inspectedKey(ctx.vars.group)) ?? new Map<string, boolean>();
  const mayBeDown = new Set(want.map((w) => w.name).filter((n) => !inRun.has(n)));
  // When the run reaches only a minority of the members and even those cannot commit (etcdctl's
  // health is a quorum read), no wait brings the majority back: say so at once.
  const minority = (want.length - mayBeDown.size) * 2 <= want.length;
  return waitUntil(
    what,
    ctx.vars.healthTimeoutSeconds * 1000,
    async () => {
      const q = await quorum(ctx, [localClientUrl(ctx)], want, mayBeDown);
      if (q.ok) return { done: true, value: { message: `${q.started - q.down.length} members healthy${q.down.length ? `; down: ${q.down.join(', ')} (quorum kept)` : ''}`, down: q.down } };
      if (minority && mayBeDown.size > 0) {
        const reached = want.map((w) => w.name).filter((n) => !mayBeDown.has(n));
        throw new TaskError(
          `etcd quorum lost: this run reaches only ${reached.join(', ') || 'no member'} of ${want.map((w) => w.name).join(', ')} and the cluster has no healthy majority (${[...mayBeDown].join(', ')} unreachable); last seen: ${q.seen}. Bring the members back (or, for a member that is gone for good, see "Replacing an etcd member" in roles/etcd/README.md)`,
        );
      }
      return { done: false, seen: q.seen };
    },
    { intervalMs: 1000, more: () => journalTail(ctx, 'etcd.service') },
  );
}

const healthGate = step({
  name: 'etcd: every member healthy',
  async run(ctx) {
    const { message, down } = await waitHealthy(ctx, `etcd cluster health (every member of group "${ctx.vars.group}" in this run started and healthy, a majority of the cluster healthy)`);
    if (down.length)
      ctx.warn(`etcd member(s) down: ${down.join(', ')}; the quorum holds without them (a member gone for good: npx rigger run playbooks/remove.ts -l ${down.join(',')}, then enroll.ts -l HOST on its replacement)`);
    return { changed: false, message };
  },
});

function tasks(ctx: Ctx): Task[] {
  // Fail on a broken group before anything runs.
  etcdHosts(ctx.inventory, ctx.vars.group);
  return [
    packages({ names: ctx.vars.packages }),
    inspect,
    wipeStock,
    addMember,
    configure,
    allConfigured,
    service({ name: 'etcd', enabled: true, state: 'started', taskName: 'etcd: service started and enabled' }),
    healthGate,
  ];
}

/**
 * Restarts a member whose runtime settings changed, one member at a time across the run and
 * each back to healthy before the next, so the cluster keeps quorum. Bootstrap-only keys
 * (ETCD_INITIAL_*) never cost a restart.
 */
const restart = (): Task[] => [
  step({
    name: 'etcd: restart (one member at a time)',
    async run(ctx) {
      const plan = ctx.shared.get(planKey(ctx.host.name));
      if (plan?.changedThisRun) {
        if (!plan.previousOurs) return { changed: false, message: 'first start already used the new settings' };
        if (!runtimeSettingsDiffer(plan.previousText, plan.wantedText ?? plan.previousText))
          return { changed: false, message: 'only bootstrap settings changed (ETCD_INITIAL_*): no restart needed' };
      } else {
        // Owed from an earlier run: restart unless etcd started after the file last changed.
        const r = await ctx.exec(
          `f=$(stat -c %Y ${shQuote(ENV_FILE)}) && t=$(systemctl show -p ActiveEnterTimestamp --value etcd.service) && ` +
            `[ -n "$t" ] && s=$(date -d "$t" +%s) && [ "$s" -gt "$f" ] && echo fresh || echo stale`,
        );
        if (r.stdout.trim() === 'fresh') return { changed: false, message: 'etcd already runs with the current settings' };
      }
      await ctx.shared.oneAtATime(RESTARTS, async () => {
        // With a member already down, one more down is the quorum lost: the restart waits (owed
        // to the next run, recorded with the pending handlers).
        const q = await quorum(ctx, [localClientUrl(ctx)], inventoryMembers(ctx.inventory, ctx.vars.group), new Set(inventoryMembers(ctx.inventory, ctx.vars.group).map((m) => m.name)));
        if (!q.ok || q.down.length)
          throw new TaskError(`not restarting etcd on ${ctx.host.name}: ${q.ok ? `${q.down.join(', ')} down` : q.seen}; one more member down would lose the quorum (the restart is owed to the next run)`);
        await ctx.run('systemctl restart etcd.service');
        await waitHealthy(ctx, `etcd cluster health after restarting ${ctx.host.name}`);
      });
      return { changed: true, summary: 'restarted etcd (cluster healthy again)' };
    },
  }),
];

export const etcd = defineRole({
  name: 'etcd',
  description: 'etcd cluster (the DCS for Patroni): bootstrap, join, health gate',
  vars: EtcdVarsSchema,
  tasks,
  handlers: { 'restart etcd': restart },
});

export default etcd;
