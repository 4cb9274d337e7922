/**
 * What a member's own PostgreSQL says, through its local psql (peer authentication as the
 * postgres user over the local socket: no password anywhere). Used by the role's restart
 * step and by the day-2 playbooks.
 */
import { shQuote } from '../../src/transport/types.ts';
import { TaskError, type Remote } from '../../src/toolkit/index.ts';
import { STANDBY_LIMITS } from './rules.ts';

const FIELD = '\x1f';

/** Rows of a query run by the member's local psql (fields split, trimmed). */
export async function localQuery(remote: Remote, port: number, sql: string, timeoutMs = 30_000): Promise<string[][]> {
  const r = await remote.exec(
    `cd / && runuser -u postgres -- psql -X -q -A -t -F ${shQuote(FIELD)} -p ${port} -v ON_ERROR_STOP=1 -f -`,
    { stdin: `${sql}\n`, timeoutMs },
  );
  if (r.code !== 0) throw new TaskError(`psql: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' ')}`);
  return r.stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.split(FIELD).map((c) => c.trim()));
}

const sqlList = (names: string[]) => names.filter((n) => /^[a-z_][a-z0-9_.]*$/.test(n)).map((n) => `'${n}'`).join(',');

/** Among `names`, the parameters PostgreSQL applies only at a restart. */
export async function restartOnlyParameters(remote: Remote, port: number, names: string[]): Promise<string[]> {
  const list = sqlList(names);
  if (list === '') return [];
  const rows = await localQuery(remote, port, `select name from pg_settings where context = 'postmaster' and name in (${list})`);
  return rows.map((r) => r[0]!).filter(Boolean);
}

/**
 * The query behind standbyLimitsLowered: for each standby limit, the line of the config files
 * a restart would apply (the last one that sets it: Debian's superseded max_connections = 100
 * in postgresql.base.conf is not), compared with the value in force. That line carries the error
 * "setting could not be applied" while a restart is pending: it must not be filtered out.
 */
export const LOWERED_LIMITS_SQL = `select s.name
  from pg_settings s
  join (select distinct on (name) name, setting from pg_file_settings
         where name in (${sqlList(STANDBY_LIMITS)}) order by name, seqno desc) f on f.name = s.name
 where f.setting ~ '^[0-9]+$' and f.setting::bigint < s.setting::bigint
 order by 1`;

/**
 * On the leader: the settings a hot standby needs at least as high as its primary that the
 * configuration waiting for a restart lowers below what is in force. Then the leader restarts
 * first (a standby refuses to run below its primary's values); a raise goes replicas first.
 */
export async function standbyLimitsLowered(leader: Remote, port: number): Promise<string[]> {
  return (await localQuery(leader, port, LOWERED_LIMITS_SQL)).map((r) => r[0]!).filter(Boolean);
}
