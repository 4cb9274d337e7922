import { describe, expect, it } from 'vitest';
import { ChronyVarsSchema } from '../../roles/chrony/vars.ts';
import { renderChronyConf } from '../../roles/chrony/render.ts';

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
        servers: [{ host: '10.0.0.1', prefer: true, minpoll: 4, maxpoll: 6 }, { host: 'ntp2.example', iburst: false }],
        pools: [{ host: 'pool.example', maxsources: 3 }],
        allow: ['10.0.0.0/24'],
        makestep: { threshold: 0.5, limit: -1 },
        rtcsync: false,
        leapsectz: '',
      }),
    );
    const lines = text.split('\n');
    expect(lines).toContain('server 10.0.0.1 iburst prefer minpoll 4 maxpoll 6');
    expect(lines).toContain('server ntp2.example');
    expect(lines).toContain('pool pool.example iburst maxsources 3');
    expect(lines.indexOf('server 10.0.0.1 iburst prefer minpoll 4 maxpoll 6')).toBeLessThan(lines.indexOf('pool pool.example iburst maxsources 3'));
    expect(lines).toContain('allow 10.0.0.0/24');
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
