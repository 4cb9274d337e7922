/**
 * The base images lab hosts boot from (read-only lower layer of their overlay): Debian minbase
 * (bookworm for 12, trixie for 13) with systemd and sshd, built once per release with
 * debootstrap and cached outside the repo. It is built in a temp dir and renamed into place when complete, so an interrupted
 * build is never used. Its path carries a hash of the recipe: change the recipe, get a new
 * image (hosts already created keep the one they were made from).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CACHE_ROOT, STATE_ROOT } from './instance.ts';
import { withLock } from './lock.ts';
import { checkMirror } from './prereqs.ts';
import { RELEASE_NAMES, suiteOf, type Release } from './release.ts';
import { LabError, check, run } from './run.ts';

export const MIRROR = 'http://deb.debian.org/debian';
const PACKAGES = [
  'systemd', 'systemd-sysv', 'openssh-server', 'python3', 'iproute2', 'dbus', 'sudo', 'ca-certificates',
  'curl', 'procps', 'less', 'iputils-ping', 'netcat-openbsd', 'gnupg',
];
/** Bump when finalize() changes, so a new image is built. */
const RECIPE_VERSION = 2;
const MARKER = 'etc/rigger-lab-image';

export function imagePath(release: Release): string {
  const SUITE = suiteOf(release);
  const hash = createHash('sha256').update(JSON.stringify({ SUITE, PACKAGES, RECIPE_VERSION })).digest('hex').slice(0, 10);
  return join(CACHE_ROOT, `${SUITE}-${hash}`);
}

export function imageReady(path: string): boolean {
  return existsSync(join(path, MARKER));
}

export async function ensureImage(release: Release, log: (m: string) => void): Promise<string> {
  const SUITE = suiteOf(release);
  const final = imagePath(release);
  if (imageReady(final)) return final;
  return withLock(join(CACHE_ROOT, 'build.lock'), 'the base image build', async () => {
    if (imageReady(final)) return final;
    await checkMirror(MIRROR, SUITE);
    removeStaleBuilds();
    const tmp = `${final}.partial-${process.pid}`;
    const logPath = join(CACHE_ROOT, 'debootstrap.log');
    log(`building the base image with debootstrap (${SUITE}, about a minute; log: ${logPath})`);
    const started = Date.now();
    // $0 is the log file: debootstrap's chatter goes there, not into our output.
    const r = await run(['sh', '-c', 'exec debootstrap "$@" >"$0" 2>&1', logPath, '--variant=minbase', `--include=${PACKAGES.join(',')}`, SUITE, tmp, MIRROR]);
    const ok = existsSync(join(tmp, 'usr/bin/systemctl')) && r.code === 0;
    if (!ok) {
      const tail = (await run(['tail', '-n', '8', logPath])).stdout.trim();
      rmSync(tmp, { recursive: true, force: true });
      throw new LabError(`debootstrap failed (exit ${r.code}):\n${tail}`, `check access to ${MIRROR} from this machine; full log in ${logPath}`);
    }
    await finalize(tmp, SUITE);
    renameSync(tmp, final);
    pruneImages();
    log(`base image ready in ${Math.round((Date.now() - started) / 1000)} s: ${final}`);
    return final;
  });
}

/** What every host shares; per-host identity (keys, address, hostname) is added per host. */
async function finalize(root: string, SUITE: string): Promise<void> {
  // Each host gets its own host keys and machine id, made before its first boot.
  for (const f of readdirSync(join(root, 'etc/ssh'))) if (f.startsWith('ssh_host_')) rmSync(join(root, 'etc/ssh', f));
  writeFileSync(join(root, 'etc/ssh/sshd_config.d/10-rigger-lab.conf'), '# Lab hosts have one host key, made per host.\nHostKey /etc/ssh/ssh_host_ed25519_key\n');
  writeFileSync(join(root, 'etc/machine-id'), '');
  rmSync(join(root, 'var/lib/dbus/machine-id'), { force: true });
  mkdirSync(join(root, 'var/lib/dbus'), { recursive: true });
  symlinkSync('/etc/machine-id', join(root, 'var/lib/dbus/machine-id'));
  // debootstrap copied the control machine's name and resolver; hosts get their own.
  writeFileSync(join(root, 'etc/hostname'), '');
  writeFileSync(join(root, 'etc/hosts'), '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n');
  rmSync(join(root, 'etc/resolv.conf'), { force: true });
  writeFileSync(
    join(root, 'etc/resolv.conf'),
    '# Lab host: no DNS server on purpose. The Debian mirror and the lab hosts are in /etc/hosts.\n',
  );
  await check(['systemctl', `--root=${root}`, 'enable', 'systemd-networkd.service']);
  // apt must not run behind a role's back (it holds the dpkg lock); no block devices to trim or scrub.
  await check(['systemctl', `--root=${root}`, 'mask', 'apt-daily.timer', 'apt-daily-upgrade.timer', 'apt-daily.service', 'apt-daily-upgrade.service']);
  await check(['systemctl', `--root=${root}`, 'disable', 'fstrim.timer', 'e2scrub_all.timer', 'e2scrub_reap.service']);
  await check(['chroot', root, 'apt-get', 'clean']);
  writeFileSync(join(root, MARKER), `${JSON.stringify({ SUITE, PACKAGES, RECIPE_VERSION, built: new Date().toISOString() })}\n`);
}

function removeStaleBuilds(): void {
  mkdirSync(CACHE_ROOT, { recursive: true });
  for (const d of readdirSync(CACHE_ROOT)) if (d.includes('.partial-')) rmSync(join(CACHE_ROOT, d), { recursive: true, force: true });
}

/** Removes cached images of older recipes that no host (of any instance) sits on any more. */
export function pruneImages(): string[] {
  const keep = new Set([...RELEASE_NAMES.map(imagePath), ...imagesInUse()]);
  const suites = RELEASE_NAMES.map(suiteOf);
  const removed: string[] = [];
  let entries: string[] = [];
  try {
    entries = readdirSync(CACHE_ROOT);
  } catch {
    return removed;
  }
  for (const d of entries) {
    const path = join(CACHE_ROOT, d);
    if (!suites.some((s) => d.startsWith(`${s}-`)) || d.includes('.partial-') || keep.has(path)) continue;
    rmSync(path, { recursive: true, force: true });
    removed.push(path);
  }
  return removed;
}

function imagesInUse(): string[] {
  const used: string[] = [];
  for (const inst of safeList(STATE_ROOT)) {
    const hosts = join(STATE_ROOT, inst, 'hosts');
    for (const h of safeList(hosts)) {
      try {
        used.push(readFileSync(join(hosts, h, 'lower'), 'utf8').trim());
      } catch {
        // not a host dir
      }
    }
  }
  return used;
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
