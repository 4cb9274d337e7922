/**
 * The difference between the cluster-wide settings we want and what the DCS holds (GET
 * /config), as the smallest PATCH /config body and a readable diff. Only keys the role
 * manages are compared; keys set by hand (patronictl edit-config) are left alone, except a
 * parameter the user explicitly set to null, which is removed.
 */
import type { DcsConfig } from './render.ts';
import type { ParameterValue } from './vars.ts';

const TOP_KEYS = ['ttl', 'loop_wait', 'retry_timeout', 'maximum_lag_on_failover', 'synchronous_mode', 'synchronous_mode_strict'] as const;
const PG_KEYS = ['use_pg_rewind', 'use_slots'] as const;

/** One way to write a value: PostgreSQL and Patroni read on/true/yes alike. */
export function normalize(v: unknown): string {
  if (v === true) return 'on';
  if (v === false) return 'off';
  if (v === null || v === undefined) return '';
  const s = String(v).trim();
  const low = s.toLowerCase();
  if (low === 'on' || low === 'true' || low === 'yes') return 'on';
  if (low === 'off' || low === 'false' || low === 'no') return 'off';
  return s;
}

function show(v: unknown): string {
  return v === undefined ? '(unset)' : typeof v === 'string' ? v : JSON.stringify(v);
}

export interface DcsChange {
  /** Dotted path, e.g. postgresql.parameters.max_connections */
  key: string;
  from: unknown;
  to: unknown;
}

export interface DcsPatch {
  patch: Record<string, unknown>;
  changes: DcsChange[];
}

function obj(v: unknown): Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

export function dcsPatch(wanted: DcsConfig, current: Record<string, unknown>, userParameters: Record<string, ParameterValue> = {}): DcsPatch {
  const patch: Record<string, unknown> = {};
  const changes: DcsChange[] = [];
  for (const k of TOP_KEYS) {
    if (normalize(wanted[k]) !== normalize(current[k])) {
      patch[k] = wanted[k];
      changes.push({ key: k, from: current[k], to: wanted[k] });
    }
  }
  const curPg = obj(current['postgresql']);
  const pgPatch: Record<string, unknown> = {};
  for (const k of PG_KEYS) {
    if (normalize(wanted.postgresql[k]) !== normalize(curPg[k])) {
      pgPatch[k] = wanted.postgresql[k];
      changes.push({ key: `postgresql.${k}`, from: curPg[k], to: wanted.postgresql[k] });
    }
  }
  const curParams = obj(curPg['parameters']);
  const paramPatch: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(wanted.postgresql.parameters)) {
    if (normalize(v) !== normalize(curParams[k])) {
      paramPatch[k] = v;
      changes.push({ key: `postgresql.parameters.${k}`, from: curParams[k], to: v });
    }
  }
  for (const [k, v] of Object.entries(userParameters)) {
    if (v === null && curParams[k] !== undefined && curParams[k] !== null) {
      paramPatch[k] = null;
      changes.push({ key: `postgresql.parameters.${k}`, from: curParams[k], to: undefined });
    }
  }
  if (Object.keys(paramPatch).length) pgPatch['parameters'] = paramPatch;
  if (Object.keys(pgPatch).length) patch['postgresql'] = pgPatch;
  return { patch, changes };
}

export function describeChanges(changes: DcsChange[]): string {
  return changes.map((c) => `${c.key.replace(/^postgresql\.parameters\./, '')} ${show(c.from)} -> ${show(c.to)}`).join(', ');
}

/** A unified-style diff of the changed keys, for --diff. */
export function dcsDiff(label: string, changes: DcsChange[]): string {
  const lines = [`--- ${label} (DCS now)`, `+++ ${label} (wanted)`, `@@ ${changes.length} setting${changes.length === 1 ? '' : 's'} @@`];
  for (const c of changes) {
    if (c.from !== undefined) lines.push(`-${c.key}: ${show(c.from)}`);
    if (c.to !== undefined) lines.push(`+${c.key}: ${show(c.to)}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Parameter names among the changes (for the pending-restart check). */
export function changedParameters(changes: DcsChange[]): string[] {
  return changes.filter((c) => c.key.startsWith('postgresql.parameters.')).map((c) => c.key.slice('postgresql.parameters.'.length));
}
