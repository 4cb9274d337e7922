import { describe, expect, it } from 'vitest';
import { SoftdogVarsSchema } from '../../roles/softdog/vars.ts';
import { renderModprobeOptions, renderModulesLoad, renderUdevRule } from '../../roles/softdog/render.ts';
import { effectiveWatchdogMode, ownershipDiffers, parseProbe, watchdogVerdict, type WatchdogProbe } from '../../roles/softdog/live.ts';
import type { OpTask } from '../../src/engine/types.ts';
import { applyPlan } from '../../src/engine/run-task.ts';
import softdog from '../../roles/softdog/index.ts';
import { ctxFor, facts, inventory } from '../support/role-context.ts';

const defaults = SoftdogVarsSchema.parse({});
const bare: WatchdogProbe = { modprobe: true, loaded: false, available: true, device: false, owner: '', mode: '', ownerExists: true, kernel: '6.1.0-28-amd64' };
const vm = { container: false, type: 'kvm' };
const nspawn = { container: true, type: 'systemd-nspawn' };

describe('softdog files', () => {
  it('loads softdog at boot and hands the device to postgres', () => {
    expect(renderModulesLoad(defaults).split('\n')).toContain('softdog');
    expect(renderUdevRule(defaults)).toContain('KERNEL=="watchdog*", OWNER="postgres", GROUP="postgres", MODE="0600"');
  });
  it('writes module options only when some are set', () => {
    expect(renderModprobeOptions(defaults)).toBeNull();
    const text = renderModprobeOptions(SoftdogVarsSchema.parse({ softMargin: 45, nowayout: false }));
    expect(text).toContain('options softdog soft_margin=45 nowayout=0');
  });
  it('keeps the configured mode in udev syntax', () => {
    expect(renderUdevRule(SoftdogVarsSchema.parse({ mode: '660', group: 'watchdog' }))).toContain('GROUP="watchdog", MODE="0660"');
  });
});

describe('watchdog verdict', () => {
  it('parses the probe output', () => {
    const p = parseProbe('modprobe=no\nloaded=no\nkernel=6.1.0\navailable=no\ndevice=yes\nowner=root:root\nmode=600\nownerExists=yes\n');
    expect(p).toEqual({ modprobe: false, loaded: false, available: false, device: true, owner: 'root:root', mode: '600', ownerExists: true, kernel: '6.1.0' });
  });
  it('loads the module on a VM that has it', () => {
    expect(watchdogVerdict(bare, vm, defaults, 'automatic')).toEqual({ kind: 'load' });
  });
  it('is ready when the device exists', () => {
    expect(watchdogVerdict({ ...bare, device: true, loaded: true }, vm, defaults, 'required')).toEqual({ kind: 'ready' });
  });
  it('warns in a container unless Patroni requires the watchdog', () => {
    const noMod = { ...bare, modprobe: false, available: false };
    const warn = watchdogVerdict(noMod, nspawn, defaults, 'automatic');
    expect(warn).toMatchObject({ kind: 'unavailable', fatal: false });
    expect(warn.kind === 'unavailable' && warn.reason).toMatch(/container \(systemd-nspawn\).*modprobe is not installed/);
    const fail = watchdogVerdict(noMod, nspawn, defaults, 'required');
    expect(fail).toMatchObject({ kind: 'unavailable', fatal: true });
    expect(fail.kind === 'unavailable' && fail.reason).toMatch(/"required"/);
  });
  it('names a kernel without the module', () => {
    const r = watchdogVerdict({ ...bare, available: false }, vm, defaults, 'off');
    expect(r.kind === 'unavailable' && r.reason).toMatch(/kernel 6\.1\.0-28-amd64 has no softdog module/);
  });
  it('reads the Patroni watchdog mode from host vars', () => {
    expect(effectiveWatchdogMode(defaults, {})).toBe('automatic');
    expect(effectiveWatchdogMode(defaults, { patroni: { watchdog: { mode: 'required' } } })).toBe('required');
    expect(effectiveWatchdogMode(defaults, { patroni: { watchdog: { mode: false } } })).toBe('off');
    expect(effectiveWatchdogMode(SoftdogVarsSchema.parse({ watchdogMode: 'off' }), { patroni: { watchdog: { mode: 'required' } } })).toBe('off');
  });
  it('spots a device with the wrong owner or mode', () => {
    expect(ownershipDiffers({ ...bare, device: true, owner: 'root:root', mode: '600' }, defaults)).toBe(true);
    expect(ownershipDiffers({ ...bare, device: true, owner: 'postgres:postgres', mode: '660' }, defaults)).toBe(true);
    expect(ownershipDiffers({ ...bare, device: true, owner: 'postgres:postgres', mode: '600' }, defaults)).toBe(false);
  });
});



describe('softdog watchdog step', () => {
  const step = async (hostVars: Record<string, unknown>, container: boolean) => {
    const c = ctxFor('pg1', SoftdogVarsSchema.parse({}), { container, hostVars });
    const op = (await softdog.tasks(c.ctx)).at(-1) as OpTask;
    return { ...c, op };
  };
  const probe = (over: Record<string, string>) => ({
    code: 0,
    stdout: Object.entries({ modprobe: 'yes', loaded: 'no', kernel: '6.1.0', available: 'yes', device: 'no', ownerExists: 'yes', ...over })
      .map(([k, v]) => `${k}=${v}`)
      .join('\n'),
  });
  it('loads the module and hands the device to postgres on a VM', async () => {
    const { ctx, op, scripts } = await step({}, false);
    const plan = await op.plan(probe({}), ctx);
    expect(plan.change && plan.summary).toBe('modprobe softdog; /dev/watchdog -> postgres:postgres 0600');
    if (plan.change) await applyPlan(ctx, plan);
    expect(scripts.join('\n')).toMatch(/modprobe 'softdog'[\s\S]*chown 'postgres:postgres' '\/dev\/watchdog' && chmod '0600'/);
  });
  it('fixes the owner of an existing device, and is quiet when all is right', async () => {
    const { ctx, op } = await step({}, false);
    const wrong = await op.plan(probe({ device: 'yes', loaded: 'yes', owner: 'root:root', mode: '600' }), ctx);
    expect(wrong.change && wrong.summary).toBe('/dev/watchdog: root:root 600 -> postgres:postgres 0600');
    expect(await op.plan(probe({ device: 'yes', loaded: 'yes', owner: 'postgres:postgres', mode: '600' }), ctx)).toEqual({ change: false, message: '/dev/watchdog ready' });
  });
  it('warns in a container, fails there when Patroni requires the watchdog', async () => {
    const auto = await step({}, true);
    expect((await auto.op.plan(probe({ modprobe: 'no', available: 'no' }), auto.ctx)).change).toBe(false);
    expect(auto.warnings[0]).toMatch(/Patroni \(watchdog mode "automatic"\) runs without fencing/);
    const req = await step({ patroni: { watchdog: { mode: 'required' } } }, true);
    expect(() => req.op.plan(probe({ modprobe: 'no', available: 'no' }), req.ctx)).toThrow(/"required", so Patroni would refuse to start/);
  });
});
