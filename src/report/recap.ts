/** Text for the end of a run: per-host counts, warnings, and why it stopped early. */
import type { RunRecap } from '../engine/events.ts';

export function formatRecap(recap: RunRecap): string {
  const names = Object.keys(recap.hosts);
  const width = Math.max(4, ...names.map((n) => n.length));
  const lines = ['', 'RECAP'];
  for (const [name, h] of Object.entries(recap.hosts)) {
    lines.push(
      `${name.padEnd(width)} : ok=${h.ok} changed=${h.changed} failed=${h.failed} skipped=${h.skipped} unreachable=${h.unreachable ? 1 : 0}`,
    );
  }
  const warnings = Object.entries(recap.hosts).flatMap(([n, h]) => h.warnings.map((w) => `  [${n}] ${w}`));
  if (warnings.length) lines.push('', 'WARNINGS', ...warnings);
  if (recap.aborted) lines.push('', `STOPPED: ${recap.aborted}`);
  lines.push('', `${recap.ok ? 'OK' : 'FAILED'} in ${(recap.durationMs / 1000).toFixed(2)}s`);
  return lines.join('\n') + '\n';
}

/** ansible-playbook's exit codes where they fit: 0 good, 2 a host failed, 4 unreachable. */
export function exitCode(recap: RunRecap): number {
  if (recap.refused === 'run-lock') return 1;
  if (recap.refused === 'unreachable-newcomer') return 4;
  const hosts = Object.values(recap.hosts);
  if (recap.aborted || hosts.some((h) => h.failed > 0)) return 2;
  if (hosts.some((h) => h.unreachable)) return 4;
  return 0;
}
