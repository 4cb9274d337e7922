/**
 * Role postgres: the PostgreSQL server packages, and nothing that runs them. Installing must
 * not leave Debian's own cluster behind (it would hold port 5432 and the data dir Patroni
 * wants), and Debian's postgresql units stay masked so Patroni owns the lifecycle.
 */
import { defineRole, type RoleContext } from '../../src/engine/role.ts';
import { TaskError, type RunTask, type Task } from '../../src/engine/types.ts';
import { shQuote } from '../../src/transport/types.ts';
import { command, directory, file, packages, service } from '../../src/ops/index.ts';
import { PostgresVarsSchema, type PostgresVars } from './vars.ts';
import { CREATECLUSTER_DROPIN, PGDG_SOURCE, renderCreateclusterDropin, renderPgdgSource, serverPackages, versionOf } from './render.ts';
import { stepsFor } from '../../src/toolkit/index.ts';

type Ctx = RoleContext<PostgresVars>;
const step = stepsFor<PostgresVars>();

/** What the probe of the stock cluster prints, one key=value a line. */
export interface StockCluster {
  exists: boolean;
  dataDir: string;
  /** Patroni has run on that data dir (its files are there). */
  patroniOwned: boolean;
  online: boolean;
  /** Databases beyond postgres/template0/template1, and user tables in `postgres`; null when not online. */
  userDatabases: number | null;
  userTables: number | null;
}

export function parseStockCluster(stdout: string): StockCluster {
  const kv = new Map(
    stdout
      .split('\n')
      .map((l) => l.split('='))
      .filter((p) => p.length >= 2)
      .map((p) => [p[0]!.trim(), p.slice(1).join('=').trim()] as const),
  );
  const num = (k: string) => (kv.get(k) && /^\d+$/.test(kv.get(k)!) ? Number(kv.get(k)) : null);
  return {
    exists: kv.get('exists') === 'yes',
    dataDir: kv.get('datadir') ?? '',
    patroniOwned: kv.get('patroni') === 'yes',
    online: kv.get('online') === 'yes',
    userDatabases: num('dbs'),
    userTables: num('tables'),
  };
}

export type StockDecision = { action: 'none'; why: string } | { action: 'drop'; why: string } | { action: 'refuse'; why: string };

/** Drop only a stock cluster that is provably empty and not Patroni's. */
export function decideStock(s: StockCluster, version: number): StockDecision {
  const name = `${version}/main`;
  if (!s.exists) return { action: 'none', why: `no Debian cluster ${name}` };
  if (s.patroniOwned)
    return { action: 'refuse', why: `Debian cluster ${name} points at ${s.dataDir}, which Patroni already runs: remove /etc/postgresql/${version}/main by hand` };
  if (!s.online)
    return {
      action: 'refuse',
      why: `Debian cluster ${name} is stopped, so its emptiness cannot be checked: start it (pg_ctlcluster ${version} main start) or drop it yourself (pg_dropcluster --stop ${version} main)`,
    };
  if (s.userDatabases === null || s.userTables === null) return { action: 'refuse', why: `could not query Debian cluster ${name}` };
  if (s.userDatabases > 0 || s.userTables > 0)
    return { action: 'refuse', why: `Debian cluster ${name} holds data (${s.userDatabases} databases, ${s.userTables} tables in postgres): refusing to drop it` };
  return { action: 'drop', why: `Debian cluster ${name} is the empty stock one` };
}

function stockProbe(version: number): string {
  const v = String(version);
  const conf = `/etc/postgresql/${v}/main`;
  const sql = (q: string) => `runuser -u postgres -- psql -X -A -t -p "$port" -c ${shQuote(q)} 2>/dev/null`;
  return [
    `if [ ! -f ${shQuote(`${conf}/postgresql.conf`)} ]; then echo exists=no; exit 0; fi`,
    'echo exists=yes',
    `d=$(sed -n "s/^[[:space:]]*data_directory[[:space:]]*=[[:space:]]*'\\(.*\\)'.*/\\1/p" ${shQuote(`${conf}/postgresql.conf`)} | tail -n 1)`,
    `[ -n "$d" ] || d=${shQuote(`/var/lib/postgresql/${v}/main`)}`,
    'echo "datadir=$d"',
    'if [ -e "$d/patroni.dynamic.json" ]; then echo patroni=yes; else echo patroni=no; fi',
    `port=$(sed -n "s/^[[:space:]]*port[[:space:]]*=[[:space:]]*\\([0-9]*\\).*/\\1/p" ${shQuote(`${conf}/postgresql.conf`)} | tail -n 1)`,
    '[ -n "$port" ] || port=5432',
    `if pg_lsclusters -h ${v} main 2>/dev/null | grep -q online; then echo online=yes; else echo online=no; exit 0; fi`,
    `echo "dbs=$(${sql("select count(*) from pg_database where datname not in ('postgres','template0','template1')")})"`,
    `echo "tables=$(${sql("select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.relkind in ('r','p') and n.nspname not in ('pg_catalog','information_schema') and n.nspname not like 'pg_toast%'")})"`,
  ].join('\n');
}

const dropStock = (version: number): RunTask =>
  step({
    name: `postgres: drop Debian's stock cluster ${version}/main (if empty and not Patroni's)`,
    inCheckMode: 'run',
    async run(ctx) {
      const stock = parseStockCluster((await ctx.exec(stockProbe(version))).stdout);
      const d = decideStock(stock, version);
      if (d.action === 'none') return { changed: false, message: d.why };
      if (d.action === 'refuse') throw new TaskError(d.why);
      if (!ctx.check) await ctx.run(`pg_dropcluster --stop ${version} main`);
      return { changed: true, summary: `${d.why}: pg_dropcluster --stop ${version} main` };
    },
  });

function pgdgTasks(v: PostgresVars, ctx: Ctx): Task[] {
  if (v.source !== 'pgdg') return [];
  return [
    packages({ names: ['curl', 'ca-certificates'] }),
    directory({ path: v.pgdg.keyFile.replace(/\/[^/]+$/, ''), mode: '0755' }),
    command({
      name: 'postgres: fetch the PGDG signing key',
      cmd: `curl -fsSL -o ${shQuote(v.pgdg.keyFile)} ${shQuote(v.pgdg.keyUrl)}`,
      creates: v.pgdg.keyFile,
    }),
    file({ path: PGDG_SOURCE, content: renderPgdgSource(v, ctx.facts.os.codename), mode: '0644' }),
  ];
}

function tasks(ctx: Ctx): Task[] {
  const v = ctx.vars;
  const version = versionOf(v, ctx.facts);
  return [
    // Before the packages: postgresql-common then never creates <version>/main.
    directory({ path: '/etc/postgresql-common/createcluster.d', mode: '0755' }),
    file({ path: CREATECLUSTER_DROPIN, content: renderCreateclusterDropin(), mode: '0644' }),
    ...pgdgTasks(v, ctx),
    packages({ names: serverPackages(v, version) }),
    ...(v.stockCluster === 'drop-if-empty' ? [dropStock(version)] : []),
    // Patroni starts and stops PostgreSQL; the distribution's units must never race it.
    service({ name: 'postgresql', masked: true, taskName: 'postgres: postgresql.service masked' }),
    // A kept stock cluster keeps its unit.
    ...(v.stockCluster === 'drop-if-empty'
      ? [service({ name: `postgresql@${version}-main`, masked: true, taskName: `postgres: postgresql@${version}-main.service masked` })]
      : []),
  ];
}

export const postgres = defineRole({
  name: 'postgres',
  description: 'PostgreSQL server packages; no stock cluster; Debian units masked (Patroni runs PostgreSQL)',
  vars: PostgresVarsSchema,
  tasks,
});

export default postgres;
