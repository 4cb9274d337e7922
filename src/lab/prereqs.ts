/**
 * What the control machine needs before a lab can exist. Missing tools are installed with
 * apt-get; anything that cannot be fixed that way fails with the fix in the message.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { LabError, run } from './run.ts';

/** command -> Debian package that provides it */
const TOOLS: Record<string, string> = {
  'systemd-nspawn': 'systemd-container',
  debootstrap: 'debootstrap',
  iptables: 'iptables',
  ssh: 'openssh-client',
  'ssh-keygen': 'openssh-client',
  ip: 'iproute2',
  nsenter: 'util-linux',
  mount: 'mount',
};

async function has(cmd: string): Promise<boolean> {
  return (await run(['sh', '-c', `command -v ${cmd}`])).code === 0;
}

export function requireRoot(): void {
  if (process.getuid?.() !== 0) {
    throw new LabError('the lab needs root (it mounts overlays, creates a bridge and NAT rules, boots containers)', 'run it as root: sudo npm run lab -- up');
  }
}

export function overlaySupported(): boolean {
  try {
    return /\toverlay$/m.test(readFileSync('/proc/filesystems', 'utf8'));
  } catch {
    return false;
  }
}

export async function missingTools(): Promise<string[]> {
  const missing: string[] = [];
  for (const cmd of Object.keys(TOOLS)) if (!(await has(cmd))) missing.push(cmd);
  return missing;
}

export async function ensurePrerequisites(log: (m: string) => void): Promise<void> {
  requireRoot();
  if (!overlaySupported() && (await run(['modprobe', 'overlay'])).code !== 0) {
    throw new LabError('this kernel has no overlayfs (none in /proc/filesystems, modprobe overlay failed)', 'use a kernel with CONFIG_OVERLAY_FS, or load the module: modprobe overlay');
  }
  raiseInotifyInstances(log);
  const missing = await missingTools();
  if (missing.length === 0) return;
  const packages = [...new Set(missing.map((c) => TOOLS[c]!))];
  if (!(await has('apt-get'))) {
    throw new LabError(`missing ${missing.join(', ')} and no apt-get to install them`, `install the packages ${packages.join(' ')} (Debian names) with your package manager`);
  }
  log(`installing ${packages.join(' ')} with apt-get`);
  const env = ['env', 'DEBIAN_FRONTEND=noninteractive'];
  let r = await run([...env, 'apt-get', 'install', '-y', '--no-install-recommends', ...packages]);
  if (r.code !== 0) {
    await run([...env, 'apt-get', 'update']);
    r = await run([...env, 'apt-get', 'install', '-y', '--no-install-recommends', ...packages]);
  }
  const still = await missingTools();
  if (r.code !== 0 || still.length > 0) {
    const tail = r.stderr.trim().split('\n').slice(-4).join('\n');
    throw new LabError(`could not install ${packages.join(' ')} with apt-get${tail ? `:\n${tail}` : ''}`, `apt-get update && apt-get install ${packages.join(' ')}`);
  }
}

const INOTIFY_INSTANCES = '/proc/sys/fs/inotify/max_user_instances';
/** Enough for a few labs at once: every container's systemd (257 in trixie more so) takes several. */
const INOTIFY_WANTED = 2048;

/**
 * Every container runs as root here, so all of them share root's inotify instances (default
 * 128). A trixie host's PID 1 then fails to boot with "Failed to create control group inotify
 * object: Too many open files" once a couple of labs are up. Only ever raised, never lowered.
 */
function raiseInotifyInstances(log: (m: string) => void): void {
  try {
    const now = Number(readFileSync(INOTIFY_INSTANCES, 'utf8').trim());
    if (now >= INOTIFY_WANTED) return;
    writeFileSync(INOTIFY_INSTANCES, `${INOTIFY_WANTED}\n`);
    log(`raised fs.inotify.max_user_instances from ${now} to ${INOTIFY_WANTED} (each container's systemd takes several)`);
  } catch {
    // not writable (a restricted sandbox): hosts may then fail to boot, with the reason in their console log
  }
}

/** Fails fast, with the fix, when the Debian mirror cannot be reached (debootstrap needs it). */
export async function checkMirror(mirror: string, suite = 'bookworm'): Promise<void> {
  const url = `${mirror}/dists/${suite}/Release`;
  try {
    const res = await fetch(url, { method: 'HEAD', signal: AbortSignal.timeout(15_000) });
    if (res.ok) return;
    throw new Error(`HTTP ${res.status}`);
  } catch (e) {
    throw new LabError(
      `cannot reach the Debian mirror (${url}): ${e instanceof Error ? e.message : String(e)}`,
      'the base image is built once with debootstrap from the mirror: give this machine HTTP access to deb.debian.org (or its proxy), then run up again',
    );
  }
}

export function isMounted(path: string): boolean {
  return mountPoints().includes(path);
}

/** Mount points of this mount namespace (octal escapes decoded). */
export function mountPoints(): string[] {
  if (!existsSync('/proc/self/mountinfo')) return [];
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split(' ')[4]!.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
}
