import { describe, expect, it } from 'vitest';
import { HaproxyVarsSchema } from '../../roles/haproxy/vars.ts';
import { haproxyConfig, renderHaproxyCfg } from '../../roles/haproxy/render.ts';
import { adminFromBits, mergeStates, parseCsv, routedTo, runtimeScript, setServerState, waitNoSessions } from '../../roles/haproxy/live.ts';

const backends = [
  { name: 'pg1', address: '10.213.7.11' },
  { name: 'pg2', address: '10.213.7.12' },
  { name: 'pg3', address: '10.213.7.13' },
];

function section(text: string, head: string): string[] {
  const blocks = text.split('\n\n');
  const b = blocks.find((x) => x.split('\n').some((l) => l === head));
  if (!b) throw new Error(`no section ${head}`);
  const lines = b.split('\n');
  return lines.slice(lines.indexOf(head) + 1).map((l) => l.trim());
}

describe('haproxy.cfg', () => {
  const text = renderHaproxyCfg(haproxyConfig(HaproxyVarsSchema.parse({}), backends));

  it('routes 5000 to the Patroni leader with the modern check syntax', () => {
    const s = section(text, 'listen postgres_primary');
    expect(s).toContain('bind *:5000');
    expect(s).toContain('option httpchk');
    expect(s).toContain('http-check send meth OPTIONS uri /primary');
    expect(s).toContain('http-check expect status 200');
    expect(s).toContain('default-server inter 3s fall 3 rise 2 on-marked-down shutdown-sessions');
    expect(s.filter((l) => l.startsWith('server '))).toEqual([
      'server pg1 10.213.7.11:5432 maxconn 200 check port 8008',
      'server pg2 10.213.7.12:5432 maxconn 200 check port 8008',
      'server pg3 10.213.7.13:5432 maxconn 200 check port 8008',
    ]);
    expect(s.some((l) => l.startsWith('balance'))).toBe(false);
    expect(text).not.toMatch(/\/master/);
  });

  it('routes 5001 round-robin over the replicas', () => {
    const s = section(text, 'listen postgres_replicas');
    expect(s).toContain('bind *:5001');
    expect(s).toContain('http-check send meth OPTIONS uri /replica');
    expect(s).toContain('balance roundrobin');
    expect(s.filter((l) => l.startsWith('server '))).toHaveLength(3);
  });

  it('has the seeds timeouts, stats page and admin socket', () => {
    const d = section(text, 'defaults');
    expect(d).toEqual(['log global', 'mode tcp', 'retries 2', 'timeout connect 4s', 'timeout client 30m', 'timeout server 30m', 'timeout check 5s']);
    const g = section(text, 'global');
    expect(g).toContain('stats socket /run/haproxy/admin.sock mode 660 level admin expose-fd listeners');
    expect(g).toContain('maxconn 2000');
    const st = section(text, 'listen stats');
    expect(st).toEqual(['mode http', 'bind *:7000', 'stats enable', 'stats uri /', 'stats refresh 10s']);
  });

  it('follows the vars (ports, no stats, no shutdown-sessions, IPv6 backends)', () => {
    const v = HaproxyVarsSchema.parse({ primaryPort: 6000, stats: { enabled: false }, check: { shutdownSessionsOnDown: false, inter: '1s' } });
    const t = renderHaproxyCfg(haproxyConfig(v, [{ name: 'pgx', address: 'fd00::5' }]));
    expect(t).toContain('    bind *:6000\n');
    expect(t).not.toContain('listen stats');
    expect(t).toContain('    default-server inter 1s fall 3 rise 2\n');
    expect(t).toContain('    server pgx [fd00::5]:5432 maxconn 200 check port 8008\n');
  });

  it('rejects malformed durations and unknown keys', () => {
    expect(HaproxyVarsSchema.safeParse({ timeouts: { client: '30 minutes' } }).success).toBe(false);
    expect(HaproxyVarsSchema.safeParse({ primary_port: 5000 }).success).toBe(false);
  });
});

describe('haproxy runtime API helpers', () => {
  const stat = [
    '# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,addr,',
    'stats,FRONTEND,,,0,0,2000,0,0,0,0,0,0,,,,,OPEN,,,,,,,,,1,2,0,,,,0,0,0,0,,,,,',
    'postgres_primary,FRONTEND,,,1,1,2000,1,0,0,0,0,0,,,,,OPEN,,,,,,,,,1,3,0,,,,0,0,0,1,,,,,',
    'postgres_primary,pg1,0,0,1,1,200,1,0,0,,0,,0,0,0,0,UP,1,1,0,0,0,10,0,,1,3,1,,1,,2,0,,1,L7OK,200,1,10.213.7.11:5432,',
    'postgres_primary,pg2,0,0,0,0,200,0,0,0,,0,,0,0,0,0,DOWN,1,1,0,1,1,10,10,,1,3,2,,0,,2,0,,0,L7STS,503,1,10.213.7.12:5432,',
    'postgres_primary,BACKEND,0,0,1,1,200,1,0,0,0,0,,0,0,0,0,UP,1,1,0,,0,10,0,,1,3,0,,1,,1,0,,1,,,,,',
    'postgres_replicas,pg1,0,0,0,0,200,0,0,0,,0,,0,0,0,0,DOWN,1,1,0,1,1,10,10,,1,4,1,,0,,2,0,,0,L7STS,503,1,10.213.7.11:5432,',
    'postgres_replicas,pg2,0,0,0,0,200,0,0,0,,0,,0,0,0,0,DRAIN,1,1,0,0,0,10,0,,1,4,2,,0,,2,0,,0,L7OK,200,1,10.213.7.12:5432,',
    '',
  ].join('\n');
  const state = [
    '1',
    '# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change',
    '3 postgres_primary 1 pg1 10.213.7.11 2 0 1 1 10',
    '3 postgres_primary 2 pg2 10.213.7.12 0 0 1 1 10',
    '4 postgres_replicas 1 pg1 10.213.7.11 0 0 1 1 10',
    '4 postgres_replicas 2 pg2 10.213.7.12 2 8 1 1 10',
    '',
  ].join('\n');

  it('parses show stat and show servers state into typed states', () => {
    expect(parseCsv(stat)).toHaveLength(7);
    const states = mergeStates(stat, state);
    expect(states.map((s) => `${s.backend}/${s.server}`)).toEqual(['postgres_primary/pg1', 'postgres_primary/pg2', 'postgres_replicas/pg1', 'postgres_replicas/pg2']);
    expect(states[0]).toMatchObject({ status: 'UP', up: true, admin: 'ready', checkStatus: 'L7OK', sessions: 1, address: '10.213.7.11:5432' });
    expect(states[1]).toMatchObject({ up: false, checkStatus: 'L7STS' });
    expect(states[3]).toMatchObject({ status: 'DRAIN', up: true, admin: 'drain' });
    expect(routedTo(states, 'postgres_primary')).toEqual(['pg1']);
    expect(routedTo(states, 'postgres_replicas')).toEqual([]);
  });

  it('maps admin bits', () => {
    expect(adminFromBits(0)).toBe('ready');
    expect(adminFromBits(1)).toBe('maint');
    expect(adminFromBits(8)).toBe('drain');
    expect(adminFromBits(0x09)).toBe('maint');
  });

  it('quotes the command for sh and refuses odd server names before touching the host', async () => {
    const s = runtimeScript("set server a/b state drain", '/run/haproxy/admin.sock');
    expect(s).toContain("printf '%s\\n' 'set server a/b state drain' | socat -t 5 stdio UNIX-CONNECT:'/run/haproxy/admin.sock'");
    let called = false;
    const h = { exec: async () => ((called = true), { code: 0, stdout: '', stderr: '' }) };
    await expect(setServerState(h, 'postgres_primary', 'pg1; rm -rf /', 'maint')).rejects.toThrow(/invalid/);
    expect(called).toBe(false);
    await setServerState(h, 'postgres_primary', 'pg1', 'maint');
    expect(called).toBe(true);
  });

  it('turns an answer from haproxy into an error', async () => {
    const h = { exec: async () => ({ code: 0, stdout: 'No such server.\n', stderr: '' }) };
    await expect(setServerState(h, 'postgres_primary', 'pg9', 'ready')).rejects.toThrow(/No such server/);
  });

  it('waits for a drained server to lose its sessions, and gives up with the count', async () => {
    const statWith = (n: number) => stat.replace('postgres_primary,pg1,0,0,1,', `postgres_primary,pg1,0,0,${n},`);
    let calls = 0;
    const draining = { exec: async () => ({ code: 0, stdout: `${statWith(calls++ < 2 ? 3 : 0)}@@RIGGER-SPLIT@@\n${state}`, stderr: '' }) };
    await waitNoSessions(draining, 'pg1', 10_000, undefined, 1);
    expect(calls).toBe(3);
    const stuck = { exec: async () => ({ code: 0, stdout: `${statWith(2)}@@RIGGER-SPLIT@@\n${state}`, stderr: '' }) };
    await expect(waitNoSessions(stuck, 'pg1', 5, undefined, 1)).rejects.toThrow(/pg1 still has 2 session\(s\).*postgres_primary: 2/);
  });
});
