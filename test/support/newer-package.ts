/**
 * A minor upgrade for the lab: the lab reaches only Debian's mirror, where the installed
 * PostgreSQL is already the newest. So the installed package's own .deb (from apt's cache on
 * the host) is rebuilt with a higher version (`+riggerN`) and published in a local apt
 * repository on each database host. apt then sees a real upgrade and dpkg replaces the
 * binaries under the running postmaster, exactly as a point release does.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LabHandle } from './lab.ts';

export const REPO_DIR = '/srv/rigger-test-repo';
export const SOURCE_FILE = '/etc/apt/sources.list.d/rigger-test.list';

export function bumpedVersion(installed: string): string {
  const m = /^(.*)\+rigger(\d+)$/.exec(installed);
  return m ? `${m[1]}+rigger${Number(m[2]) + 1}` : `${installed}+rigger1`;
}

/** Publishes `pkg` at a higher version on `hosts`; returns the installed and the offered version. */
export async function publishNewer(lab: LabHandle, hosts: string[], pkg: string): Promise<{ from: string; to: string }> {
  const first = hosts[0]!;
  const q = await lab.exec(first, `dpkg-query -W -f '\${Version}' ${pkg}`);
  if (q.code !== 0) throw new Error(`${first}: ${pkg} is not installed`);
  const from = q.stdout.trim();
  const to = bumpedVersion(from);
  const base = from.replace(/\+rigger\d+$/, '');
  const archives = lab.hostFile(first, '/var/cache/apt/archives');
  const original = readdirSync(archives).find((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb') && decodeURIComponent(f).includes(`_${base}_`));
  if (!original) throw new Error(`${first}: no ${pkg} ${base} .deb in apt's cache to rebuild`);

  const work = mkdtempSync(join(tmpdir(), 'rigger-deb-'));
  try {
    const tree = join(work, 'tree');
    execFileSync('dpkg-deb', ['-R', join(archives, original), tree]);
    const control = join(tree, 'DEBIAN', 'control');
    writeFileSync(control, readFileSync(control, 'utf8').replace(/^Version: .*$/m, `Version: ${to}`));
    const name = `${pkg}_${to.replace(/:/g, '%3a')}_amd64.deb`;
    const deb = join(work, name);
    execFileSync('dpkg-deb', ['-Zgzip', '-z1', '--build', tree, deb], { stdio: 'ignore' });
    const bytes = readFileSync(deb);
    const fields = execFileSync('dpkg-deb', ['-f', deb], { encoding: 'utf8' }).trimEnd();
    const packages = `${fields}\nFilename: ./${name}\nSize: ${statSync(deb).size}\nSHA256: ${createHash('sha256').update(bytes).digest('hex')}\n\n`;
    for (const h of hosts) {
      const repo = lab.hostFile(h, REPO_DIR);
      rmSync(repo, { recursive: true, force: true });
      mkdirSync(repo, { recursive: true });
      copyFileSync(deb, join(repo, name));
      writeFileSync(join(repo, 'Packages'), packages);
      writeFileSync(lab.hostFile(h, SOURCE_FILE), `deb [trusted=yes] file:${REPO_DIR} ./\n`);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return { from, to };
}

/** Removes the local repository again (the upgraded package stays installed). */
export async function unpublish(lab: LabHandle, hosts: string[]): Promise<void> {
  for (const h of hosts) {
    rmSync(lab.hostFile(h, REPO_DIR), { recursive: true, force: true });
    rmSync(lab.hostFile(h, SOURCE_FILE), { force: true });
    await lab.exec(h, 'apt-get update -qq >/dev/null 2>&1 || true');
  }
}
