/**
 * Waiting for apt and dpkg's locks. `DPkg::Lock::Timeout` makes apt wait for the dpkg frontend
 * lock only: an `apt-get install` that meets another run's `apt-get update` on the lists lock (or
 * its download on the archives lock) fails at once with `E: Could not get lock ...`. Two roles,
 * two runs, or an unattended upgrade may overlap on one host, so every apt and dpkg call goes
 * through `rigger_apt`, a shell function: it waits while any lock is held (read from
 * /proc/locks), runs the command, and runs it again when it still lost a lock race (apt and dpkg
 * take their locks before changing anything, so the retry is safe). The wait is bounded; its
 * error names each lock and the process that held it. Nothing is ever killed: a dpkg killed
 * mid-unpack leaves half-configured packages.
 */
import { shQuote } from '../transport/types.ts';

/** Every lock apt and dpkg take: dpkg's frontend and database locks, apt's lists and archives. */
export const APT_LOCKS = ['/var/lib/dpkg/lock-frontend', '/var/lib/dpkg/lock', '/var/lib/apt/lists/lock', '/var/cache/apt/archives/lock'] as const;
export const APT_LOCK_WAIT_SECONDS = 300;
/** What apt and dpkg say when they lose a lock race (apt 2.6, dpkg 1.21). */
const LOST_LOCK = 'Could not get lock|Unable to acquire the dpkg frontend lock|Unable to lock|is locked by another process|was locked by another process';

export interface AptLockOptions {
  locks?: readonly string[];
  waitSeconds?: number;
}

/**
 * Shell functions (POSIX sh) to put before a script's first `rigger_apt CMD ARGS...`.
 * `rigger_apt_holders` prints `LOCK held by process PID (CMDLINE); ` for each held lock;
 * an exit status of 100 with `rigger: gave up ...` on stderr is a lock that stayed held.
 */
export function aptLockPrelude(o: AptLockOptions = {}): string {
  const locks = (o.locks ?? APT_LOCKS).map(shQuote).join(' ');
  const wait = o.waitSeconds ?? APT_LOCK_WAIT_SECONDS;
  return [
    'rigger_apt_holders() {',
    `  for l in ${locks}; do`,
    '    i=$(stat -c %i "$l" 2>/dev/null) || continue',
    // Field 2 is the lock type (a waiter's line has "->" there); 5 the pid; 6 dev:dev:inode.
    `    for p in $(awk -v i="$i" '($2 == "POSIX" || $2 == "OFDLCK") { n = split($6, a, ":"); if (a[n] == i) print $5 }' /proc/locks 2>/dev/null); do`,
    `      printf '%s held by process %s (%s); ' "$l" "$p" "$(tr '\\0\\n' '  ' 2>/dev/null </proc/$p/cmdline | cut -c 1-80 | sed 's/ *$//')"`,
    '    done',
    '  done',
    '}',
    'rigger_apt() {',
    `  rigger_end=$(($(date +%s) + ${wait})); rigger_said=; rigger_err=$(mktemp)`,
    '  while :; do',
    '    rigger_held=$(rigger_apt_holders)',
    '    if [ -z "$rigger_held" ]; then',
    '      if "$@" 2>"$rigger_err"; then rigger_rc=0; else rigger_rc=$?; fi',
    '      cat "$rigger_err" >&2',
    `      if [ "$rigger_rc" = 0 ] || ! grep -Eq '${LOST_LOCK}' "$rigger_err"; then rm -f "$rigger_err"; return "$rigger_rc"; fi`,
    `      rigger_held=$(grep -E '${LOST_LOCK}' "$rigger_err" | tail -n 1)`,
    '    fi',
    '    if [ "$(date +%s)" -ge "$rigger_end" ]; then',
    '      rm -f "$rigger_err"',
    `      echo "rigger: gave up after ${wait} s waiting for the apt/dpkg locks: $rigger_held" >&2`,
    '      return 100',
    '    fi',
    '    [ -n "$rigger_said" ] || echo "rigger: waiting for the apt/dpkg locks: $rigger_held" >&2',
    '    rigger_said=1',
    '    sleep 1',
    '  done',
    '}',
  ].join('\n');
}
