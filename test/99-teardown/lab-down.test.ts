/**
 * Runs last: `down` removes everything the lab made on this machine. What is left is checked
 * from the outside (ps, ip, iptables, mountinfo, cgroupfs), not with the lab's own helpers.
 * Also: `down` cleans up after an `up` that was killed halfway.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { imagePath, imageReady } from '../../src/lab/image.ts';
import { DEFAULT_RELEASE } from '../../src/lab/release.ts';
import { instanceName, resolveInstance, type Instance } from '../../src/lab/instance.ts';
import * as lab from '../../src/lab/lab.ts';
import { run, sleep } from '../../src/lab/run.ts';
import { labSkipReason } from '../support/lab.ts';

const skip = labSkipReason();
const REPO = resolve(import.meta.dirname, '../..');
const quiet = () => {};

/** Everything of the instance still present on the machine, one line per item. */
async function leftovers(inst: Instance): Promise<string[]> {
  const found: string[] = [];
  const ps = await run(['ps', '-eo', 'pid=,stat=,args=']);
  for (const line of ps.stdout.split('\n')) {
    const [, stat, ...args] = line.trim().split(/\s+/);
    const cmd = args.join(' ');
    if (stat && !stat.startsWith('Z') && cmd.includes('systemd-nspawn') && cmd.includes(`${inst.dir}/`)) found.push(`process: ${line.trim()}`);
  }
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const mountPoint = line.split(' ')[4];
    if (mountPoint?.startsWith(`${inst.dir}/`)) found.push(`mount: ${mountPoint}`);
  }
  const links = await run(['ip', '-o', 'link', 'show']);
  for (const line of links.stdout.split('\n')) {
    const name = line.split(': ')[1]?.split('@')[0];
    if (name && (name === inst.bridge || name.startsWith(`vb-${inst.name}-`))) found.push(`link: ${name}`);
  }
  for (const table of ['filter', 'nat']) {
    const rules = await run(['iptables', '-w', '10', '-t', table, '-S']);
    for (const line of rules.stdout.split('\n')) {
      if (line.includes(inst.subnet) || line.includes(inst.ruleTag) || line.includes(` ${inst.bridge} `)) found.push(`iptables ${table}: ${line}`);
    }
  }
  for (const h of ['/sys/fs/cgroup/systemd', '/sys/fs/cgroup/unified', '/sys/fs/cgroup']) {
    const base = join(h, 'rigger-lab');
    if (existsSync(base)) for (const d of readdirSync(base)) if (d.startsWith(`${inst.name}-`)) found.push(`cgroup: ${join(base, d)}`);
  }
  const propagate = '/run/systemd/nspawn/propagate';
  if (existsSync(propagate)) for (const d of readdirSync(propagate)) if (d.startsWith(`${inst.name}-`)) found.push(`nspawn runtime dir: ${d}`);
  for (const f of [inst.hostsDir, inst.knownHosts, inst.inventoryPath, inst.statePath]) if (existsSync(f)) found.push(`file: ${f}`);
  return found;
}

describe.skipIf(skip !== null)(`lab teardown${skip ? ` (skipped: ${skip})` : ''}`, () => {
  it('down leaves nothing of the lab behind (the base image stays cached)', async () => {
    const inst = (await resolveInstance(instanceName()))!;
    const release = lab.releaseOfInstance(inst) ?? DEFAULT_RELEASE;
    await lab.down(inst, quiet);
    expect(await leftovers(inst)).toEqual([]);
    expect(imageReady(imagePath(release))).toBe(true);
    // And again: down on a lab that is down is a no-op, not an error.
    await lab.down(inst, quiet);
    expect(await leftovers(inst)).toEqual([]);
  });

  it('down cleans up after an up that was killed halfway', async () => {
    const name = `${instanceName().slice(0, 6)}half`;
    const inst = (await resolveInstance(name))!;
    await lab.down(inst, quiet);
    const up = spawn(process.execPath, ['--import', 'tsx', 'src/lab/main.ts', 'up'], {
      cwd: REPO,
      env: { ...process.env, RIGGER_LAB: name },
      stdio: 'ignore',
    });
    try {
      // Kill it as soon as its first container exists (booting, not yet up).
      for (let i = 0; i < 600 && !readdirSafe(inst.hostsDir).some((h) => existsSync(join(inst.hostsDir, h, 'prepared'))); i++) await sleep(100);
      for (let i = 0; i < 100 && !(await run(['pgrep', '-f', `systemd-nspawn .*-D ${inst.hostsDir}/`])).stdout.trim(); i++) await sleep(100);
      expect((await run(['pgrep', '-f', `systemd-nspawn .*-D ${inst.hostsDir}/`])).stdout.trim()).not.toBe('');
    } finally {
      up.kill('SIGKILL');
    }
    if (up.exitCode === null && up.signalCode === null) await new Promise((r) => up.once('exit', r));
    expect((await leftovers(inst)).length).toBeGreaterThan(0);
    await lab.down(inst, quiet);
    expect(await leftovers(inst)).toEqual([]);
  });
});

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
