/**
 * PostgreSQL as a member's own psql sees it (peer authentication as the postgres user over
 * the local socket: no password anywhere), and as a client sees it through the virtual IP
 * (the superuser's password on psql's stdin, never on a command line).
 */
import { TaskError } from '../../../src/engine/types.ts';
import type { Secret } from '../../../src/core/secret.ts';
import { shQuote } from '../../../src/transport/types.ts';
import type { Remote } from '../../../src/toolkit/index.ts';
import { localQuery } from '../../../roles/patroni/sql.ts';

const FIELD = '\x1f';

export interface ReplicaLink {
  /** application_name: Patroni sets it to the member name. */
  name: string;
  state: string;
  /** Bytes between the primary's current WAL position and what the replica replayed. */
  lagBytes: number;
  /** Seconds since the replica last reported (it does every wal_receiver_status_interval). */
  replyAgeSeconds: number;
  syncState: string;
}

/** pg_stat_replication on the primary: what it streams to, how far behind each one is. */
export async function replicationLinks(primary: Remote, port: number): Promise<ReplicaLink[]> {
  const rows = await localQuery(
    primary,
    port,
    `select application_name, state, coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), -1)::bigint,
            coalesce(extract(epoch from now() - reply_time), 1e9)::int, sync_state
       from pg_stat_replication where state <> 'backup' order by 1`,
  );
  return rows.map(([name = '', state = '', lag = '-1', age = '0', sync = '']) => ({
    name,
    state,
    lagBytes: Number(lag),
    replyAgeSeconds: Number(age),
    syncState: sync,
  }));
}

/** Age in seconds of the oldest open client transaction on a member (0 when none). */
export async function oldestTransactionSeconds(remote: Remote, port: number): Promise<{ seconds: number; who: string }> {
  const rows = await localQuery(
    remote,
    port,
    `select coalesce(extract(epoch from now() - xact_start), 0)::int, coalesce(usename, '?') || '@' || coalesce(datname, '?') || ' pid ' || pid
       from pg_stat_activity
      where xact_start is not null and backend_type = 'client backend' and pid <> pg_backend_pid()
      order by xact_start limit 1`,
  );
  const [seconds = '0', who = ''] = rows[0] ?? [];
  return { seconds: Number(seconds), who };
}

/** A checkpoint (a restartpoint on a standby) so the shutdown that follows has little to write. */
export async function checkpoint(remote: Remote, port: number): Promise<void> {
  await localQuery(remote, port, 'checkpoint', 300_000);
}

/** The postmaster's executable was replaced on disk since it started (a package upgrade). */
export function binaryReplacedScript(dataDir: string): string {
  return `p=$(head -n 1 ${shQuote(`${dataDir}/postmaster.pid`)} 2>/dev/null) && [ -n "$p" ] && readlink "/proc/$p/exe" 2>/dev/null | grep -q ' (deleted)$' && echo replaced || echo current`;
}

export interface WriteProbe {
  /** The server that took the write (its address as HAProxy reached it). */
  server: string;
  inRecovery: boolean;
}

/**
 * One write through the virtual IP from `client` (a host with psql): assigns a transaction id,
 * which only a primary can, and says which server did it.
 */
export async function writeThrough(client: Remote, address: string, port: number, user: string, password: Secret): Promise<WriteProbe> {
  const sql = 'select host(inet_server_addr()), pg_is_in_recovery(), txid_current()';
  const r = await client.exec(
    `IFS= read -r PGPASSWORD; export PGPASSWORD PGCONNECT_TIMEOUT=3; cd / && psql -X -q -A -t -F ${shQuote(FIELD)} -h ${shQuote(address)} -p ${port} -U ${shQuote(user)} -d postgres -v ON_ERROR_STOP=1 -c ${shQuote(sql)}`,
    { stdin: `${password.reveal()}\n`, timeoutMs: 15_000 },
  );
  if (r.code !== 0) throw new TaskError(`write through ${address}:${port}: ${(r.stderr || r.stdout).trim().split('\n').slice(-2).join(' ')}`);
  const [server = '', rec = ''] = r.stdout.trim().split(FIELD);
  return { server, inRecovery: rec === 't' };
}
