import { describe, expect, it } from 'vitest';
import { SoftdogVarsSchema } from '../../roles/softdog/vars.ts';
import { renderModprobeOptions, renderModulesLoad, renderUdevRule } from '../../roles/softdog/render.ts';
import { effectiveWatchdogMode, ownershipDiffers, parseProbe, watchdogVerdict, type WatchdogProbe } from '../../roles/softdog/live.ts';

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
