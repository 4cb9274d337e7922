import { describe, expect, it } from 'vitest';
import { ChronyVarsSchema } from '../../roles/chrony/vars.ts';
import { renderChronyConf } from '../../roles/chrony/render.ts';
import type { OpTask, RunTask, Task } from '../../src/engine/types.ts';
import chrony from '../../roles/chrony/index.ts';
import { ctxFor, facts, inventory } from '../support/role-context.ts';

describe('chrony vars', () => {
  it('defaults to Debian 12 stock settings', () => {
    const v = ChronyVarsSchema.parse({});
    expect(v.pools).toEqual([{ host: '2.debian.pool.ntp.org', iburst: true, prefer: false }]);
    expect(v.makestep).toEqual({ threshold: 1, limit: 3 });
    expect(v.configPath).toBe('/etc/chrony/chrony.conf');
    expect(v.waitSync).toEqual({ enabled: true, timeoutS: 60, maxCorrectionS: 1 });
  });
  it('rejects unknown keys and hosts with blanks', () => {
    expect(ChronyVarsSchema.safeParse({ server: [] }).success).toBe(false);
    expect(ChronyVarsSchema.safeParse({ servers: [{ host: 'a b' }] }).success).toBe(false);
    expect(ChronyVarsSchema.safeParse({ servers: [{ host: 'ntp1#x' }] }).success).toBe(false);
  });
});

describe('chrony.conf', () => {
  it('renders the stock file from the defaults', () => {
    const text = renderChronyConf(ChronyVarsSchema.parse({}));
    const lines = text.split('\n');
    expect(lines).toContain('pool 2.debian.pool.ntp.org iburst');
    expect(lines).toContain('makestep 1 3');
    expect(lines).toContain('rtcsync');
    expect(lines).toContain('driftfile /var/lib/chrony/chrony.drift');
    expect(lines).toContain('confdir /etc/chrony/conf.d');
    expect(lines).toContain('leapsectz right/UTC');
    expect(text.endsWith('\n')).toBe(true);
    expect(lines.filter((l) => l.startsWith('server '))).toEqual([]);
  });
  it('renders servers before pools with their options', () => {
    const text = renderChronyConf(
      ChronyVarsSchema.parse({
        servers: [{ host: '10.213.7.1', prefer: true, minpoll: 4, maxpoll: 6 }, { host: 'ntp2.example', iburst: false }],
        pools: [{ host: 'pool.example', maxsources: 3 }],
        allow: ['10.213.7.0/24'],
        makestep: { threshold: 0.5, limit: -1 },
        rtcsync: false,
        leapsectz: '',
      }),
    );
    const lines = text.split('\n');
    expect(lines).toContain('server 10.213.7.1 iburst prefer minpoll 4 maxpoll 6');
    expect(lines).toContain('server ntp2.example');
    expect(lines).toContain('pool pool.example iburst maxsources 3');
    expect(lines.indexOf('server 10.213.7.1 iburst prefer minpoll 4 maxpoll 6')).toBeLessThan(lines.indexOf('pool pool.example iburst maxsources 3'));
    expect(lines).toContain('allow 10.213.7.0/24');
    expect(lines).toContain('makestep 0.5 -1');
    expect(lines).not.toContain('rtcsync');
    expect(lines.some((l) => l.startsWith('leapsectz'))).toBe(false);
  });
  it('refuses a config without any time source', () => {
    expect(() => renderChronyConf(ChronyVarsSchema.parse({ pools: [] }))).toThrow(/no time source/);
  });
  it('is deterministic (idempotence compares rendered text)', () => {
    const v = ChronyVarsSchema.parse({ servers: [{ host: 'a' }] });
    expect(renderChronyConf(v)).toBe(renderChronyConf(ChronyVarsSchema.parse({ servers: [{ host: 'a' }] })));
  });
});


const names = (tasks: Task[]) => tasks.map((t) => t.name);

describe('chrony tasks', () => {
  it('a VM gets the service started and a sync wait after the restart handler', async () => {
    const { ctx } = ctxFor('pg1', ChronyVarsSchema.parse({}));
    const tasks = await chrony.tasks(ctx);
    expect(names(tasks)).toEqual(['packages: chrony', 'file /etc/chrony/chrony.conf', 'service chrony (started, enabled)', 'restart chrony if its config changed', 'wait for clock sync (< 1 s, 60 s max)']);
    expect((tasks[1] as OpTask).notify).toEqual(['restart chrony']);
  });
  it('the sync wait shows chronyc tracking when the clock does not sync', async () => {
    const { ctx } = ctxFor('pg1', ChronyVarsSchema.parse({}), { exec: () => ({ code: 1, stdout: 'not synchronised\nReference ID    : 00000000 ()\nLeap status     : Not synchronised\n', stderr: '' }) });
    const wait = (await chrony.tasks(ctx)).at(-1) as RunTask;
    await expect(wait.run(ctx)).rejects.toThrow(/clock not synchronised after 60 s; last seen:[\s\S]*Leap status {5}: Not synchronised/);
  });
  it('a container gets no start and no restart, and a warning', async () => {
    const { ctx, warnings } = ctxFor('pg1', ChronyVarsSchema.parse({}), { container: true });
    const tasks = await chrony.tasks(ctx);
    expect(names(tasks)).toEqual(['packages: chrony', 'file /etc/chrony/chrony.conf', 'service chrony (enabled)', 'chrony in a container (systemd-nspawn)']);
    expect((tasks[1] as OpTask).notify).toBeUndefined();
    const notice = tasks[3] as OpTask;
    expect(await notice.plan({ code: 0, stdout: 'ActiveState=inactive\nConditionResult=no\n' }, ctx)).toEqual({ change: false, message: 'configured; not running in a container' });
    expect(warnings[0]).toMatch(/container \(systemd-nspawn\), unit skipped by ConditionCapability=CAP_SYS_TIME/);
  });
});
