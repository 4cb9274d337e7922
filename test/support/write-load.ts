/**
 * A write/read load for end-to-end tests of rolling upgrades and switchovers.
 *
 *   const load = startLoad({ host: lab.vip, user: 'postgres', password, table: 'rigger_load' });
 *   await load.waitForAcks(20, 30_000);        // the load is flowing
 *   ... switchover, rolling restart ...
 *   const r = await load.stop();               // r.missing must be empty, r.longestWriteGapMs small
 *
 * Writer: one session on host:writePort (HAProxy -> the leader) inserting rows 1, 2, 3, ... one after
 * another (`insert ... on conflict do nothing`). A row counts as acknowledged only once its insert
 * resolved. On any error the error is recorded, the session dropped, a new one opened (every
 * `reconnectIntervalMs`) and the SAME row retried: it may or may not have committed, and
 * `on conflict do nothing` makes the retry safe.
 *
 * Reader: a fresh session per read on host:readPort (HAProxy -> the replicas), `select
 * pg_is_in_recovery()`, then closed: like a pooler's new connections. Connect and query each have
 * a timeout, so a hang counts as a failed read instead of blocking the loop.
 *
 * stop(): ends both loops (the operation in flight completes or times out), then on a fresh session
 * to the leader (retried while the leader moves) checks that every acknowledged row is in the table.
 *
 * The table belongs to the load: created if missing and emptied (TRUNCATE) before the first row,
 * so rows left by an earlier run cannot pass for this run's writes. Two loads must not share a table.
 *
 * Hygiene: every pg client has an 'error' listener (pg emits 'error' on a dead session even when the
 * query's promise already rejected; without a listener that is an uncaught exception), every socket
 * is closed when stop() resolves (a close that does not complete is forced after
 * `closeTimeoutMs`), no timer outlives stop(), and recorded messages never contain the password.
 */
import { performance } from 'node:perf_hooks';
import pg from 'pg';

export interface LoadOptions {
  host: string;
  /** Port routed to the leader (default 5000). */
  writePort?: number;
  /** Port routed to the replicas (default 5001). */
  readPort?: number;
  user: string;
  password: string;
  /** Default `postgres`. */
  database?: string;
  /** A plain identifier; default `rigger_load`. Created if missing, emptied at start. */
  table?: string;
  /** The load stops by itself after this long (default 15 min); stop() still has to be called for the report. */
  maxDurationMs?: number;
  /** Pause after each acknowledged write (default 20). */
  writeIntervalMs?: number;
  /** Pause after each read (default 50). */
  readIntervalMs?: number;
  /** TCP connect + authentication, for every session (default 2000). */
  connectTimeoutMs?: number;
  /** Client-side limit on one insert; past it the write counts as failed and is retried (default 5000). */
  writeTimeoutMs?: number;
  /** Client-side and server-side (statement_timeout) limit on one read query (default 2000). */
  readTimeoutMs?: number;
  /** Pause between reconnect attempts of the writer (default 100). */
  reconnectIntervalMs?: number;
  /** How long stop() keeps trying to reach the leader for the final check (default 60 s). */
  verifyTimeoutMs?: number;
  /** Past this, a graceful close is forced by destroying the socket (default 1000). */
  closeTimeoutMs?: number;
}

export interface LoadEvent {
  /** Milliseconds since the epoch (performance.timeOrigin + performance.now(): monotonic). */
  atMs: number;
  message: string;
}

export interface LoadReport {
  /** Rows acknowledged: exactly ids 1..acknowledged. */
  acknowledged: number;
  /** Acknowledged ids not in the table at the end: lost writes. */
  missing: number[];
  writeErrors: LoadEvent[];
  /** Ids whose insert found the row already there: an earlier attempt reported as failed had committed. */
  foundOnRetry: number[];
  /** Longest time between two consecutive acknowledgements, the first gap counting from the start. */
  longestWriteGapMs: number;
  gapStartedAt: number;
  gapEndedAt: number;
  /** From the last acknowledgement (or the start) to the writer's end: a writer stuck at the end shows here. */
  tailGapMs: number;
  reads: {
    ok: number;
    failed: number;
    failures: LoadEvent[];
    /** Successful reads answered by a server not in recovery (the replicas port fell back to the leader). */
    fromPrimary: number;
  };
  /** Distinct inet_server_addr() of the rows acknowledged, sorted. */
  servers: string[];
  startedAt: number;
  /** From start to the end of both loops. */
  durationMs: number;
  /** ackedAt[i] is when row i+1 was acknowledged (epoch ms, monotonic). */
  ackedAt: number[];
}

export interface LoadHandle {
  /** Rows acknowledged so far. */
  acknowledged(): number;
  /** Resolves once n rows are acknowledged; rejects after timeoutMs or if the load ends first. */
  waitForAcks(n: number, timeoutMs: number): Promise<void>;
  /** Stops the load and checks the table. Idempotent; dropTable drops the table after the check. */
  stop(opts?: { dropTable?: boolean }): Promise<LoadReport>;
}

const now = () => performance.timeOrigin + performance.now();

export function startLoad(opts: LoadOptions): LoadHandle {
  const o = {
    writePort: 5000,
    readPort: 5001,
    database: 'postgres',
    table: 'rigger_load',
    maxDurationMs: 15 * 60_000,
    writeIntervalMs: 20,
    readIntervalMs: 50,
    connectTimeoutMs: 2000,
    writeTimeoutMs: 5000,
    readTimeoutMs: 2000,
    reconnectIntervalMs: 100,
    verifyTimeoutMs: 60_000,
    closeTimeoutMs: 1000,
    ...stripUndefined(opts),
  };
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(o.table)) throw new Error(`startLoad: table must be a plain identifier, got ${JSON.stringify(o.table)}`);
  const table = pg.escapeIdentifier(o.table);
  const scrub = (s: string) => (o.password ? s.split(o.password).join('***') : s);
  const messageOf = (e: unknown) => scrub(describeError(e));

  const startedAt = now();
  const ackedAt: number[] = [];
  const writeErrors: LoadEvent[] = [];
  const foundOnRetry: number[] = [];
  const reads = { ok: 0, failed: 0, failures: [] as LoadEvent[], fromPrimary: 0 };
  let halted = false;
  let writerEndedAt = startedAt;

  // Sleeps that halt() wakes up, so that stop() never waits out a pause.
  const sleepers = new Set<() => void>();
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      if (halted) return resolve();
      const wake = () => {
        clearTimeout(timer);
        sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      sleepers.add(wake);
    });

  interface Waiter {
    n: number;
    resolve(): void;
    reject(e: Error): void;
    timer: ReturnType<typeof setTimeout>;
  }
  const waiters = new Set<Waiter>();
  const settleWaiters = () => {
    for (const w of waiters) {
      if (ackedAt.length >= w.n) {
        clearTimeout(w.timer);
        waiters.delete(w);
        w.resolve();
      } else if (halted) {
        clearTimeout(w.timer);
        waiters.delete(w);
        w.reject(new Error(`the load ended with ${ackedAt.length}/${w.n} writes acknowledged${lastErrors()}`));
      }
    }
  };
  const lastErrors = () => {
    const last = writeErrors.slice(-3).map((e) => e.message);
    return last.length ? `; last write errors: ${last.join(' | ')}` : '';
  };

  const halt = () => {
    halted = true;
    clearTimeout(maxTimer);
    for (const wake of [...sleepers]) wake();
  };
  const maxTimer = setTimeout(halt, o.maxDurationMs);
  maxTimer.unref();

  /** A connected session; `broken` is set by the client's 'error' event (a dead socket, a FATAL). */
  interface Session {
    client: pg.Client;
    broken?: unknown;
    /** The last NoticeResponse: a backend killed during a synchronous-replication wait sends only a WARNING. */
    notice?: string;
  }
  const newClient = (port: number, extra: pg.ClientConfig, onError: (e: unknown) => void) => {
    const client = new pg.Client({
      host: o.host,
      port,
      user: o.user,
      password: o.password,
      database: o.database,
      connectionTimeoutMillis: o.connectTimeoutMs,
      ...extra,
    });
    // Never removed: a discarded client can still emit (e.g. 'Connection terminated unexpectedly').
    client.on('error', onError);
    return client;
  };
  const open = async (port: number, extra: pg.ClientConfig): Promise<Session> => {
    const s = {} as Session;
    s.client = newClient(port, extra, (e) => {
      s.broken ??= e;
    });
    s.client.on('notice', (n) => {
      s.notice = n.message;
    });
    try {
      await s.client.connect();
    } catch (e) {
      await closeClient(s.client, o.closeTimeoutMs);
      throw e;
    }
    return s;
  };

  const writer = async () => {
    let session: Session | undefined;
    let tableReady = false;
    const fail = async (what: string, e: unknown) => {
      const notice = session?.notice ? ` (last server notice: ${scrub(session.notice)})` : '';
      writeErrors.push({ atMs: Math.round(now()), message: `${what}: ${messageOf(e)}${notice}` });
      if (session) await closeClient(session.client, o.closeTimeoutMs);
      session = undefined;
      await sleep(o.reconnectIntervalMs);
    };
    try {
      while (!halted) {
        const id = ackedAt.length + 1;
        if (!session) {
          try {
            session = await open(o.writePort, {
              query_timeout: o.writeTimeoutMs,
              keepAlive: true,
              application_name: 'rigger-load-writer',
            });
          } catch (e) {
            await fail('connect', e);
            continue;
          }
        }
        if (session.broken !== undefined) {
          await fail(`session lost before row ${id}`, session.broken);
          continue;
        }
        try {
          if (!tableReady) {
            await session.client.query(
              `create table if not exists ${table} (id bigint primary key, written_at timestamptz default clock_timestamp(), server inet default inet_server_addr())`,
            );
            await session.client.query(`truncate ${table}`);
            tableReady = true;
          }
        } catch (e) {
          await fail('create table', e);
          continue;
        }
        try {
          session.notice = undefined;
          const r = await session.client.query(`insert into ${table} (id) values ($1) on conflict do nothing`, [id]);
          if (r.rowCount === 0) foundOnRetry.push(id);
          session.notice = undefined;
        } catch (e) {
          await fail(`insert ${id}`, e);
          continue;
        }
        ackedAt.push(now());
        settleWaiters();
        await sleep(o.writeIntervalMs);
      }
    } finally {
      if (session) await closeClient(session.client, o.closeTimeoutMs);
      writerEndedAt = now();
    }
  };

  const reader = async () => {
    while (!halted) {
      const client = newClient(
        o.readPort,
        { query_timeout: o.readTimeoutMs, statement_timeout: o.readTimeoutMs, application_name: 'rigger-load-reader' },
        () => {}, // the awaited connect/query reports the failure; the event only must not go unhandled
      );
      try {
        await client.connect();
        const r = await client.query<{ r: boolean }>('select pg_is_in_recovery() as r');
        reads.ok++;
        if (r.rows[0]?.r === false) reads.fromPrimary++;
      } catch (e) {
        reads.failed++;
        reads.failures.push({ atMs: Math.round(now()), message: messageOf(e) });
      } finally {
        await closeClient(client, o.closeTimeoutMs);
      }
      await sleep(o.readIntervalMs);
    }
  };

  let loopsEndedAt = startedAt;
  const loops = Promise.all([writer(), reader()]).finally(() => {
    loopsEndedAt = now();
    halt();
    settleWaiters();
  });
  // The loops catch their own errors; this only keeps a bug from becoming an unhandled rejection.
  loops.catch(() => {});

  const verify = async (acknowledged: number, dropTable: boolean) => {
    const deadline = now() + o.verifyTimeoutMs;
    let last: unknown;
    for (let attempt = 1; ; attempt++) {
      let session: Session | undefined;
      try {
        session = await open(o.writePort, { query_timeout: 30_000, application_name: 'rigger-load-verify' });
        const rec = await session.client.query<{ r: boolean }>('select pg_is_in_recovery() as r');
        if (rec.rows[0]?.r !== false) throw new Error('the writes port reached a server in recovery (the leader is moving)');
        const missing = await session.client.query<{ id: string }>(
          `select g.id from generate_series(1, $1::bigint) as g(id) where not exists (select 1 from ${table} t where t.id = g.id) order by g.id`,
          [acknowledged],
        );
        const servers = await session.client.query<{ s: string | null }>(
          `select distinct host(server) as s from ${table} where id <= $1 order by 1`,
          [acknowledged],
        );
        if (dropTable) await session.client.query(`drop table if exists ${table}`);
        return {
          missing: missing.rows.map((r) => Number(r.id)),
          servers: servers.rows.map((r) => r.s ?? 'null'),
        };
      } catch (e) {
        last = e;
      } finally {
        if (session) await closeClient(session.client, o.closeTimeoutMs);
      }
      if (now() + 500 > deadline) {
        throw new Error(`write load: could not check the table after ${attempt} attempts in ${o.verifyTimeoutMs} ms: ${messageOf(last)}`);
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  };

  let stopping: Promise<LoadReport> | undefined;
  const stop = (stopOpts?: { dropTable?: boolean }) =>
    (stopping ??= (async () => {
      halt();
      await loops;
      const acknowledged = ackedAt.length;
      let longest = 0;
      let gapStartedAt = startedAt;
      let gapEndedAt = startedAt;
      let prev = startedAt;
      for (const t of ackedAt) {
        if (t - prev > longest) {
          longest = t - prev;
          gapStartedAt = prev;
          gapEndedAt = t;
        }
        prev = t;
      }
      if (acknowledged === 0) {
        longest = writerEndedAt - startedAt;
        gapEndedAt = writerEndedAt;
      }
      const { missing, servers } = await verify(acknowledged, stopOpts?.dropTable ?? false);
      return {
        acknowledged,
        missing,
        writeErrors,
        foundOnRetry,
        longestWriteGapMs: Math.round(longest),
        gapStartedAt: Math.round(gapStartedAt),
        gapEndedAt: Math.round(gapEndedAt),
        tailGapMs: Math.round(writerEndedAt - prev),
        reads,
        servers,
        startedAt: Math.round(startedAt),
        durationMs: Math.round(loopsEndedAt - startedAt),
        ackedAt: ackedAt.map((t) => Math.round(t)),
      };
    })());

  return {
    acknowledged: () => ackedAt.length,
    waitForAcks: (n, timeoutMs) =>
      new Promise<void>((resolve, reject) => {
        const w: Waiter = {
          n,
          resolve,
          reject,
          timer: setTimeout(() => {
            waiters.delete(w);
            reject(new Error(`${ackedAt.length}/${n} writes acknowledged after ${timeoutMs} ms${lastErrors()}`));
          }, timeoutMs),
        };
        waiters.add(w);
        settleWaiters();
      }),
    stop,
  };
}

/**
 * Ends a client and waits until its socket is closed. pg's end() resolves on the socket's 'close',
 * which a peer that has gone silent (partition, frozen host) may never send: after `ms` the socket
 * is destroyed.
 */
async function closeClient(client: pg.Client, ms: number): Promise<void> {
  const ended = client.end().catch(() => {});
  if (await within(ended, ms)) return;
  client.connection.stream.destroy();
  await within(ended, ms); // 'close' follows destroy() on the next tick; bounded all the same
}

/** Whether p settled within ms; the timer is cleared either way. */
async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      p.then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function describeError(e: unknown): string {
  if (e instanceof AggregateError && !e.message) return e.errors.map(describeError).join('; ') || 'AggregateError';
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    const msg = e.message || e.name;
    return typeof code === 'string' && !msg.includes(code) ? `${msg} [${code}]` : msg;
  }
  return String(e);
}

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
