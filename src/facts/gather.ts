/**
 * Facts in one round trip: a POSIX sh probe (no python; every tool optional) prints
 * `key=value` lines, parsed and validated here into Facts.
 */
import { FactsSchema, type Facts } from './types.ts';
import type { Transport } from '../transport/types.ts';

/**
 * Prints one `key=value` per line; `addr=`, `link=` and `route=` lines carry raw `ip -o`
 * output. Runs in a subshell of its own, never exits early, ends with status 0.
 */
export const FACTS_SCRIPT = String.raw`(
LC_ALL=C; export LC_ALL
kv() { printf '%s=%s\n' "$1" "$2"; }
has() { command -v "$1" >/dev/null 2>&1; }
# Builtins and reads of /proc where they do: every process spawned here is paid on every run.
read -r h </proc/sys/kernel/hostname 2>/dev/null || h=$(uname -n)
kv hostname "$h"
# The canonical name from /etc/hosts first: hostname -f may wait for DNS that is not there.
f=$(awk -v h="$h" '$1 !~ /^#/ { for (i = 2; i <= NF; i++) if ($i == h) { print $2; exit } }' /etc/hosts 2>/dev/null)
if [ -z "$f" ]; then
  if has timeout; then f=$(timeout 2 hostname -f 2>/dev/null); else f=$(hostname -f 2>/dev/null); fi
fi
kv fqdn "$f"
for r in /etc/os-release /usr/lib/os-release; do
  if [ -r "$r" ]; then
    . "$r"
    kv os.id "$ID"; kv os.like "$ID_LIKE"; kv os.version "$VERSION_ID"
    kv os.codename "$VERSION_CODENAME"; kv os.versionText "$VERSION"
    break
  fi
done
[ -r /etc/debian_version ] && read -r dv </etc/debian_version && kv os.debianVersion "$dv"
read -r kr </proc/sys/kernel/osrelease 2>/dev/null || kr=$(uname -r)
kv os.kernel "$kr"
kv arch "$(uname -m)"
for p in apt-get dnf yum zypper apk; do
  if has "$p"; then kv pkg "$p"; break; fi
done
if [ -d /run/systemd/system ]; then kv svc systemd
elif has openrc || [ -x /sbin/openrc-run ]; then kv svc openrc
elif [ -d /etc/init.d ]; then kv svc sysvinit
fi
if has systemd-detect-virt; then
  c=$(systemd-detect-virt -c 2>/dev/null)
  if [ -n "$c" ] && [ "$c" != none ]; then kv virt.type "$c"; kv virt.container 1
  else kv virt.type "$(systemd-detect-virt 2>/dev/null)"; kv virt.container 0; fi
else
# Fallbacks, only without systemd-detect-virt (the parser prefers its answer).
[ -r /run/systemd/container ] && kv virt.systemdContainer "$(head -n 1 /run/systemd/container)"
[ -r /proc/1/environ ] && kv virt.pid1Container "$({ tr '\000' '\n' </proc/1/environ; } 2>/dev/null | sed -n 's/^container=//p' | head -n 1)"
[ -f /.dockerenv ] && kv virt.dockerenv 1
[ -f /run/.containerenv ] && kv virt.podman 1
[ -r /sys/class/dmi/id/sys_vendor ] && kv virt.dmiVendor "$(head -n 1 /sys/class/dmi/id/sys_vendor 2>/dev/null)"
fi
kv cpus "$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || grep -c '^processor' /proc/cpuinfo)"
while read -r mk mv _; do [ "$mk" = MemTotal: ] && { kv memKb "$mv"; break; }; done </proc/meminfo
if has ip; then
  ip -o link show 2>/dev/null | awk -F': ' '{ print "link=" $2 }'
  ip -o addr show 2>/dev/null | sed 's/^/addr=/'
  ip -4 route show default 2>/dev/null | sed 's/^/route=/'
else
  for d in /sys/class/net/*; do [ -e "$d" ] && kv link "${'${d##*/}'}"; done
  awk '$2 == "00000000" && $1 != "Iface" { print "procroute=" $1 " " $3; exit }' /proc/net/route 2>/dev/null
fi
kv user "$(id -un 2>/dev/null || whoami)"
:
)`;

type Interface = Facts['interfaces'][number];

/** Parses the probe's output; throws with the validation problems when something is off. */
export function parseFacts(stdout: string): Facts {
  const kv = new Map<string, string>();
  const links: string[] = [];
  const addrs: string[] = [];
  const routes: string[] = [];
  for (const line of stdout.split('\n')) {
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1);
    if (key === 'link') links.push(value);
    else if (key === 'addr') addrs.push(value);
    else if (key === 'route' || key === 'procroute') routes.push(`${key} ${value}`);
    else if (!kv.has(key)) kv.set(key, value);
  }
  const get = (k: string): string => kv.get(k)?.trim() ?? '';

  const interfaces = parseInterfaces(links, addrs);
  const osId = get('os.id') || 'unknown';
  const candidate = {
    hostname: get('hostname'),
    fqdn: get('fqdn') || get('hostname'),
    os: {
      family: osFamily(osId, get('os.like')),
      id: osId,
      version: get('os.version') || get('os.debianVersion'),
      codename: get('os.codename') || /\(([^)]+)\)/.exec(get('os.versionText'))?.[1]?.split(/[ ,]/)[0]?.toLowerCase() || '',
      kernel: get('os.kernel'),
    },
    arch: get('arch'),
    packageManager: packageManager(get('pkg')),
    serviceManager: serviceManager(get('svc')),
    virtualization: virtualization(kv),
    cpus: Number.parseInt(get('cpus'), 10),
    memoryMb: Math.floor(Number.parseInt(get('memKb'), 10) / 1024),
    interfaces,
    defaultIpv4: defaultRoute(routes, interfaces),
    user: get('user'),
  };
  const parsed = FactsSchema.safeParse(candidate);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`fact gathering printed unexpected output (${problems})`);
  }
  if (parsed.data.hostname === '') throw new Error('fact gathering printed no hostname: the probe did not run as expected');
  return parsed.data;
}

export async function gatherFacts(t: Transport): Promise<Facts> {
  const r = await t.exec(FACTS_SCRIPT);
  if (r.code !== 0) throw new Error(`${t.host}: fact gathering failed (exit ${r.code}): ${r.stderr.trim().slice(-500)}`);
  return parseFacts(r.stdout);
}

/** The family the roles branch on: debian, rhel, suse, alpine, arch, or else the first ID_LIKE / the ID. */
function osFamily(id: string, like: string): string {
  const all = [id, ...like.split(/\s+/).filter(Boolean)].map((s) => s.toLowerCase());
  if (all.includes('debian') || all.includes('ubuntu')) return 'debian';
  if (all.some((s) => ['rhel', 'fedora', 'centos'].includes(s))) return 'rhel';
  if (all.some((s) => s === 'suse' || s.startsWith('opensuse') || s === 'sles')) return 'suse';
  if (all.includes('alpine')) return 'alpine';
  if (all.includes('arch')) return 'arch';
  return all[1] ?? all[0] ?? 'unknown';
}

function packageManager(tool: string): Facts['packageManager'] {
  if (tool === 'apt-get') return 'apt';
  if (tool === 'dnf' || tool === 'yum' || tool === 'zypper' || tool === 'apk') return tool;
  return 'unknown';
}

function serviceManager(s: string): Facts['serviceManager'] {
  return s === 'systemd' || s === 'openrc' || s === 'sysvinit' ? s : 'unknown';
}

const DMI_VENDORS: [RegExp, string][] = [
  [/^QEMU/i, 'qemu'],
  [/^VMware/i, 'vmware'],
  [/^Microsoft/i, 'microsoft'],
  [/^innotek/i, 'oracle'],
  [/^Xen/i, 'xen'],
  [/^Amazon EC2/i, 'amazon'],
];

/** systemd-detect-virt when present; else container markers, then the DMI vendor. */
function virtualization(kv: Map<string, string>): Facts['virtualization'] {
  const tool = kv.get('virt.type')?.trim();
  if (tool) return { type: tool, container: kv.get('virt.container') === '1' };
  const marker = kv.get('virt.systemdContainer')?.trim() || kv.get('virt.pid1Container')?.trim();
  if (marker) return { type: marker, container: true };
  if (kv.get('virt.podman') === '1') return { type: 'podman', container: true };
  if (kv.get('virt.dockerenv') === '1') return { type: 'docker', container: true };
  const vendor = kv.get('virt.dmiVendor')?.trim() ?? '';
  const vm = DMI_VENDORS.find(([re]) => re.test(vendor));
  return { type: vm ? vm[1] : 'none', container: false };
}

/** From `ip -o link` names and `ip -o addr` lines: "2: eth0    inet 10.0.0.5/24 brd ... scope global eth0". */
function parseInterfaces(links: string[], addrs: string[]): Interface[] {
  const byName = new Map<string, Interface>();
  const entry = (raw: string): Interface => {
    const name = raw.split('@')[0]!;
    let e = byName.get(name);
    if (!e) {
      e = { name, ipv4: [], ipv6: [] };
      byName.set(name, e);
    }
    return e;
  };
  for (const l of links) if (l.trim()) entry(l.trim());
  for (const line of addrs) {
    const f = line.trim().split(/\s+/);
    const [, name, family, cidr] = f;
    if (!name || !cidr) continue;
    const address = cidr.split('/')[0]!;
    if (family === 'inet') entry(name).ipv4.push(address);
    else if (family === 'inet6') entry(name).ipv6.push(address);
  }
  return [...byName.values()];
}

function defaultRoute(routes: string[], interfaces: Interface[]): Facts['defaultIpv4'] {
  const first = routes[0];
  if (!first) return null;
  let dev = '';
  let gateway = '';
  let src = '';
  if (first.startsWith('procroute ')) {
    // /proc/net/route: interface and gateway as little-endian hex
    const [, iface, hex] = first.split(' ');
    dev = iface ?? '';
    const n = Number.parseInt(hex ?? '0', 16);
    gateway = n ? [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, (n >>> 24) & 255].join('.') : '';
  } else {
    const f = first.split(/\s+/);
    const after = (word: string): string => {
      const i = f.indexOf(word);
      return i >= 0 ? (f[i + 1] ?? '') : '';
    };
    dev = after('dev');
    gateway = after('via');
    src = after('src');
  }
  if (!dev) return null;
  const address = src || interfaces.find((i) => i.name === dev)?.ipv4[0] || '';
  return { interface: dev, address, gateway };
}
