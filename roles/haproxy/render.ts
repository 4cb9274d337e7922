/**
 * haproxy.cfg as a typed object, then text. Only what this deployment needs: a global and
 * defaults section, the stats page, and one `listen` per route (leader / replicas), each
 * health-checked against Patroni's REST API.
 */
import type { HaproxyVars } from './vars.ts';
import { hostPort } from '../../src/toolkit/index.ts';

export interface Backend {
  /** Server name in haproxy (the inventory host name). */
  name: string;
  address: string;
}

export interface HaproxyServer {
  name: string;
  address: string;
  port: number;
  maxconn: number;
  checkPort: number;
}

export interface PostgresListen {
  name: string;
  comment: string;
  bind: string;
  port: number;
  /** Patroni endpoint that answers 200 only on the members this route wants. */
  checkUri: string;
  balance?: 'roundrobin' | 'leastconn' | 'first';
  servers: HaproxyServer[];
}

export interface HaproxyConfig {
  global: { log?: string; chroot: string; user: string; group: string; adminSocket: string; maxconn: number };
  defaults: { retries: number; timeouts: { connect: string; client: string; server: string; check: string } };
  defaultServer: { inter: string; fall: number; rise: number; shutdownSessionsOnDown: boolean };
  stats?: { bind: string; port: number; uri: string; refresh: string };
  listens: PostgresListen[];
}

export function haproxyConfig(v: HaproxyVars, backends: Backend[]): HaproxyConfig {
  const servers = backends.map((b) => ({
    name: b.name,
    address: b.address,
    port: v.postgresPort,
    maxconn: v.serverMaxconn,
    checkPort: v.patroniApiPort,
  }));
  return {
    global: {
      ...(v.log ? { log: v.log } : {}),
      chroot: '/var/lib/haproxy',
      user: 'haproxy',
      group: 'haproxy',
      adminSocket: v.adminSocket,
      maxconn: v.maxconn,
    },
    defaults: { retries: v.retries, timeouts: { ...v.timeouts } },
    defaultServer: { ...v.check },
    ...(v.stats.enabled ? { stats: { bind: v.stats.bind, port: v.stats.port, uri: v.stats.uri, refresh: v.stats.refresh } } : {}),
    listens: [
      {
        name: v.primaryName,
        comment: 'Writes: only the Patroni leader answers 200 on ' + v.primaryCheckUri,
        bind: v.bind,
        port: v.primaryPort,
        checkUri: v.primaryCheckUri,
        servers,
      },
      {
        name: v.replicaName,
        comment: 'Reads: every running standby answers 200 on ' + v.replicaCheckUri,
        bind: v.bind,
        port: v.replicaPort,
        checkUri: v.replicaCheckUri,
        balance: 'roundrobin',
        servers,
      },
    ],
  };
}

function block(head: string, lines: string[]): string {
  return [head, ...lines.map((l) => `    ${l}`)].join('\n');
}

export function renderHaproxyCfg(c: HaproxyConfig): string {
  const parts: string[] = ['# Managed by rigger (role haproxy). Local changes are overwritten.'];
  parts.push(
    block('global', [
      ...(c.global.log ? [`log ${c.global.log}`] : []),
      `chroot ${c.global.chroot}`,
      // expose-fd lets a reload hand the listening sockets over: no refused connection.
      `stats socket ${c.global.adminSocket} mode 660 level admin expose-fd listeners`,
      'stats timeout 30s',
      `user ${c.global.user}`,
      `group ${c.global.group}`,
      'daemon',
      `maxconn ${c.global.maxconn}`,
    ]),
  );
  const t = c.defaults.timeouts;
  parts.push(
    block('defaults', [
      ...(c.global.log ? ['log global'] : []),
      'mode tcp',
      `retries ${c.defaults.retries}`,
      `timeout connect ${t.connect}`,
      `timeout client ${t.client}`,
      `timeout server ${t.server}`,
      `timeout check ${t.check}`,
    ]),
  );
  if (c.stats) {
    parts.push(
      block('listen stats', [
        'mode http',
        `bind ${hostPort(c.stats.bind, c.stats.port)}`,
        'stats enable',
        `stats uri ${c.stats.uri}`,
        `stats refresh ${c.stats.refresh}`,
      ]),
    );
  }
  const ds = c.defaultServer;
  const defaultServer = `default-server inter ${ds.inter} fall ${ds.fall} rise ${ds.rise}${ds.shutdownSessionsOnDown ? ' on-marked-down shutdown-sessions' : ''}`;
  for (const l of c.listens) {
    parts.push(
      `# ${l.comment}\n` +
        block(`listen ${l.name}`, [
          `bind ${hostPort(l.bind, l.port)}`,
          'option httpchk',
          // HAProxy >= 2.2 syntax; Patroni answers OPTIONS like GET, without logging a request.
          `http-check send meth OPTIONS uri ${l.checkUri}`,
          'http-check expect status 200',
          ...(l.balance ? [`balance ${l.balance}`] : []),
          defaultServer,
          ...l.servers.map((s) => `server ${s.name} ${hostPort(s.address, s.port)} maxconn ${s.maxconn} check port ${s.checkPort}`),
        ]),
    );
  }
  return parts.join('\n\n') + '\n';
}
