/**
 * -vv: every probe and command a host runs, printed as it starts and when it ends. The
 * transport is wrapped, so nothing in the engine changes; each line goes through redact(), and
 * stdin (the only way file content and secrets reach a host) is shown as its size only.
 */
import type { Writable } from 'node:stream';
import { redact } from '../core/secret.ts';
import type { Host } from '../inventory/types.ts';
import type { Transport } from '../transport/types.ts';

export function tracing(open: (host: Host) => Transport, out: Writable): (host: Host) => Transport {
  return (host) => {
    const t = open(host);
    let n = 0;
    const exec: Transport['exec'] = async (script, opts) => {
      const id = ++n;
      const stdin = opts?.stdin === undefined ? '' : ` (stdin ${Buffer.byteLength(opts.stdin)} bytes)`;
      const body = script.trimEnd().split('\n').map((l) => `    ${l}`).join('\n');
      out.write(redact(`[${host.name}] exec #${id}${stdin}:\n${body}\n`));
      const t0 = Date.now();
      try {
        const r = await t.exec(script, opts);
        out.write(redact(`[${host.name}] exec #${id}: exit ${r.code} (${Date.now() - t0} ms, ${r.stdout.length} bytes out)\n`));
        return r;
      } catch (e) {
        out.write(redact(`[${host.name}] exec #${id}: ${e instanceof Error ? e.message : String(e)}\n`));
        throw e;
      }
    };
    return Object.assign(Object.create(t) as Transport, { exec, connect: () => t.connect(), close: () => t.close() });
  };
}
