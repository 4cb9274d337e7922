import { describe, expect, it } from 'vitest';
import { KeepalivedVarsSchema } from '../../roles/keepalived/vars.ts';
import { keepalivedConfig, priorityFor, renderKeepalivedConf, trackWeight, type Placement } from '../../roles/keepalived/render.ts';
import { Secret } from '../../src/core/secret.ts';
import { judgeRound, holderScript } from '../../roles/keepalived/live.ts';
import type { Task } from '../../src/engine/types.ts';
import keepalived from '../../roles/keepalived/index.ts';
import { ctxFor, facts, inventory } from '../support/role-context.ts';

const base = KeepalivedVarsSchema.parse({ virtualIp: '10.213.7.100' });
const lb1: Placement = { host: 'lb1', index: 0, groupSize: 2, interface: 'host0', address: '10.213.7.21', peers: ['10.213.7.22'] };
const lb2: Placement = { ...lb1, host: 'lb2', index: 1, address: '10.213.7.22', peers: ['10.213.7.21'] };

describe('keepalived vars', () => {
  it('needs the virtual IP and validates it', () => {
    expect(KeepalivedVarsSchema.safeParse({}).success).toBe(false);
    expect(KeepalivedVarsSchema.safeParse({ virtualIp: '10.213.7.300' }).success).toBe(false);
    expect(base).toMatchObject({ prefix: 24, virtualRouterId: 51, basePriority: 150, priorityStep: 10, scriptUser: 'keepalived_script' });
    expect(base.track.script).toBe('/usr/bin/pgrep -x haproxy');
  });
  it('takes the auth password only as a secret', () => {
    expect(KeepalivedVarsSchema.safeParse({ virtualIp: '10.213.7.1', authPassword: 'plain' }).success).toBe(false);
    expect(KeepalivedVarsSchema.safeParse({ virtualIp: '10.213.7.1', authPassword: new Secret('abc12345') }).success).toBe(true);
  });
});

describe('keepalived priorities', () => {
  it('goes down the inventory order and a failed check drops below every healthy peer', () => {
    expect([0, 1, 2].map((i) => priorityFor(base, i))).toEqual([150, 140, 130]);
    const w = trackWeight(base, 3);
    // lb1 with a failed check must rank below the last healthy balancer
    expect(150 - w).toBeLessThan(130);
    expect(trackWeight(KeepalivedVarsSchema.parse({ virtualIp: '10.213.7.1', track: { weight: 7 } }), 3)).toBe(7);
  });
  it('refuses priorities that fall below 1', () => {
    expect(() => priorityFor(KeepalivedVarsSchema.parse({ virtualIp: '10.213.7.1', basePriority: 20, priorityStep: 10 }), 2)).toThrow(/priority/);
  });
  it('lets an explicit host priority win', () => {
    expect(priorityFor(KeepalivedVarsSchema.parse({ virtualIp: '10.213.7.1', priority: 77 }), 0)).toBe(77);
  });
});

describe('keepalived.conf', () => {
  it('renders the VIP, the HAProxy check and the priorities', () => {
    const t1 = renderKeepalivedConf(keepalivedConfig(base, lb1));
    const l = t1.split('\n').map((x) => x.trim());
    expect(l).toContain('router_id lb1');
    expect(l).toContain('script_user keepalived_script');
    expect(l).toContain('enable_script_security');
    expect(l).toContain('vrrp_script chk_haproxy {');
    expect(l).toContain('script "/usr/bin/pgrep -x haproxy"');
    expect(l).toContain('weight -20');
    expect(l).toContain('vrrp_instance VI_PG {');
    expect(l).toContain('state MASTER');
    expect(l).toContain('interface host0');
    expect(l).toContain('virtual_router_id 51');
    expect(l).toContain('priority 150');
    expect(l).toContain('10.213.7.100/24 dev host0');
    expect(l).toContain('chk_haproxy');
    expect(l.some((x) => x.startsWith('auth_pass'))).toBe(false);
    expect(l).not.toContain('nopreempt');
    const t2 = renderKeepalivedConf(keepalivedConfig(base, lb2)).split('\n').map((x) => x.trim());
    expect(t2).toContain('state BACKUP');
    expect(t2).toContain('priority 140');
    // braces balance
    expect((t1.match(/{/g) ?? []).length).toBe((t1.match(/}/g) ?? []).length);
  });
  it('renders auth, unicast peers and nopreempt', () => {
    const v = KeepalivedVarsSchema.parse({ virtualIp: '10.213.7.100', unicast: true, preempt: false });
    const l = renderKeepalivedConf(keepalivedConfig(v, lb1, 'lab-vrrp')).split('\n').map((x) => x.trim());
    expect(l).toContain('auth_type PASS');
    expect(l).toContain('auth_pass lab-vrrp');
    expect(l).toContain('unicast_src_ip 10.213.7.21');
    expect(l.slice(l.indexOf('unicast_peer {'), l.indexOf('unicast_peer {') + 3)).toEqual(['unicast_peer {', '10.213.7.22', '}']);
    expect(l).toContain('nopreempt');
    expect(l).toContain('state BACKUP');
  });
  it('refuses an auth password keepalived would truncate or split, without printing it', () => {
    let msg = '';
    try {
      keepalivedConfig(base, lb1, 'much-too-long-secret');
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toMatch(/1 to 8 characters/);
    expect(msg).not.toContain('much-too-long-secret');
    expect(() => keepalivedConfig(base, lb1, 'a b')).toThrow();
  });
});


describe('VIP holder rounds', () => {
  const group = ['lb1', 'lb2'];
  it('settles on exactly one holder among all balancers', () => {
    expect(judgeRound(new Map([['lb1', true], ['lb2', false]]), group)).toEqual({ kind: 'settled', holder: 'lb1' });
  });
  it('keeps waiting with none or two holders', () => {
    expect(judgeRound(new Map([['lb1', false], ['lb2', false]]), group)).toEqual({ kind: 'pending', holders: [] });
    expect(judgeRound(new Map([['lb1', true], ['lb2', true]]), group)).toEqual({ kind: 'pending', holders: ['lb1', 'lb2'] });
  });
  it('says what it could not check when balancers are outside the run', () => {
    expect(judgeRound(new Map([['lb2', false]]), group)).toEqual({ kind: 'partial', holder: null, outside: ['lb1'] });
    expect(judgeRound(new Map([['lb2', true]]), group)).toEqual({ kind: 'partial', holder: 'lb2', outside: ['lb1'] });
  });
  it('asks ip for the exact address', () => {
    expect(holderScript('10.213.7.100')).toContain("ip -o -4 addr show to '10.213.7.100/32'");
  });
});


const names = (tasks: Task[]) => tasks.map((t) => t.name);

describe('keepalived task list', () => {
  it('keepalived: a host outside the balancer group has no priority', async () => {
    const { ctx } = ctxFor('pg1', KeepalivedVarsSchema.parse({ virtualIp: '10.213.7.100' }));
    await expect(async () => keepalived.tasks(ctx)).rejects.toThrow(/pg1 is not in group "balancers"/);
  });
  it('keepalived: the interface comes from the facts', async () => {
    const { ctx } = ctxFor('lb2', KeepalivedVarsSchema.parse({ virtualIp: '10.213.7.100' }));
    const tasks = await keepalived.tasks(ctx);
    expect(names(tasks)).toContain('file /etc/keepalived/keepalived.conf');
  });
});
