/**
 * One connection per host for the whole run, opened on first use; facts and pending handlers
 * fetched in that same first round trip and cached. `forks` bounds how many remote commands
 * (and connection handshakes) are in flight at once across all hosts: a bound on commands
 * rather than on hosts means hosts waiting at a barrier never starve the others.
 */
import pLimit, { type LimitFunction } from 'p-limit';
import type { Host } from '../inventory/types.ts';
import type { Facts } from '../facts/types.ts';
import type { ExecOptions, ExecResult, Transport } from '../transport/types.ts';
import { FACTS_SCRIPT, parseFacts } from '../facts/gather.ts';
import { PENDING_PROBE, parsePending } from './pending.ts';
import { UNDO_PROBE, parseUndoRecords, type UndoRecord } from './undo.ts';
import { MEMBERS_PROBE, parseMembers } from './membership.ts';

export interface HostHandle {
  host: Host;
  transport: Transport;
  facts: Facts;
  /** Handler keys owed on this host (from earlier failed runs, and this run's). */
  pending: Set<string>;
  /** Serialises writes of the pending file across plays running at once on this host. */
  pendingWrites: Promise<void>;
  /** Temporary changes interrupted runs left on this host (undo.ts), found at connect. */
  leftovers: UndoRecord[];
  /** The hosts this one has recorded as the cluster's members (membership.ts). */
  members: string[];
  /** Set once the run dealt with the leftovers (healed or reported). */
  healed?: Promise<void>;
  exec(script: string, opts?: ExecOptions): Promise<ExecResult>;
}

/** First round trip on a new connection: facts, the handlers owed and the changes left by earlier runs. */
export type Gather = (exec: HostHandle['exec'], host: Host) => Promise<{ facts: Facts; pending: string[]; leftovers?: UndoRecord[]; members?: string[] }>;

export const gatherOverSsh: Gather = async (exec, host) => {
  const marker = '@@RG:PENDING@@';
  const undoMarker = '@@RG:UNDO@@';
  const membersMarker = '@@RG:MEMBERS@@';
  const r = await exec(`(\n${FACTS_SCRIPT}\n)\nprintf '\\n${marker}\\n'\n${PENDING_PROBE}\nprintf '\\n${undoMarker}\\n'\n${UNDO_PROBE}\nprintf '\\n${membersMarker}\\n'\n${MEMBERS_PROBE}`);
  const cut = r.stdout.lastIndexOf(`\n${marker}\n`);
  const undoCut = r.stdout.lastIndexOf(`\n${undoMarker}\n`);
  const membersCut = r.stdout.lastIndexOf(`\n${membersMarker}\n`);
  if (cut < 0 || undoCut < cut || membersCut < undoCut) throw new Error(`${host.name}: fact gathering failed (exit ${r.code}): ${r.stderr.trim().slice(-500)}`);
  return {
    facts: parseFacts(r.stdout.slice(0, cut)),
    pending: parsePending(r.stdout.slice(cut + marker.length + 2, undoCut)),
    leftovers: parseUndoRecords(r.stdout.slice(undoCut + undoMarker.length + 2, membersCut)),
    members: parseMembers(r.stdout.slice(membersCut + membersMarker.length + 2)),
  };
};

export class HostPool {
  readonly #handles = new Map<string, Promise<HostHandle>>();
  readonly #opened = new Map<string, Promise<Transport>>();
  readonly #transports = new Map<string, Transport>();
  readonly #limit: LimitFunction;

  constructor(
    forks: number,
    private readonly open: (host: Host) => Transport,
    private readonly gather: Gather = gatherOverSsh,
  ) {
    this.#limit = pLimit(Math.max(1, forks));
  }

  get(host: Host): Promise<HostHandle> {
    let h = this.#handles.get(host.name);
    if (!h) {
      h = this.#connect(host);
      this.#handles.set(host.name, h);
    }
    return h;
  }

  /**
   * The host's connection, connected, without facts: for the run lock, taken before anything
   * is read. Its exec is not bound by `forks` (a heartbeat must not wait behind long tasks).
   */
  connected(host: Host): Promise<Transport> {
    let t = this.#opened.get(host.name);
    if (!t) {
      const transport = this.open(host);
      this.#transports.set(host.name, transport);
      t = this.#limit(() => transport.connect()).then(() => transport);
      this.#opened.set(host.name, t);
    }
    return t;
  }

  async #connect(host: Host): Promise<HostHandle> {
    const transport = await this.connected(host);
    const exec = (script: string, opts?: ExecOptions) => this.#limit(() => transport.exec(script, opts));
    const { facts, pending, leftovers, members } = await this.gather(exec, host);
    return { host, transport, facts, pending: new Set(pending), pendingWrites: Promise.resolve(), leftovers: leftovers ?? [], members: members ?? [], exec };
  }

  transports(): Transport[] {
    return [...this.#transports.values()];
  }

  async closeAll(): Promise<void> {
    await Promise.allSettled([...this.#transports.values()].map((t) => t.close()));
  }
}
