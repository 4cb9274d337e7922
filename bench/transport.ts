/**
 * Transport figures against the loopback test sshd: time to connect (TCP + key exchange +
 * auth) and the round trip of `true` on an open connection, medians. Runs as the test user:
 * its login shell is /bin/sh, so the figure is the transport's, not a heavy ~/.bashrc's.
 *
 *   node --import tsx bench/transport.ts [N]      (root, /usr/sbin/sshd; or import benchTransport)
 */
import { pathToFileURL } from 'node:url';
import { SshTransport } from '../src/transport/ssh.ts';
import { startSshd, type TestSshd } from '../test/support/sshd.ts';

export interface TransportFigures {
  /** Median connect time, ms. */
  connectMs: number;
  /** Median round trip of `true` on an open connection, ms. */
  rttMs: number;
  /** The same round trip with TCP_NODELAY off (Nagle + delayed ACK), when asked for. */
  rttNagleMs?: number;
  samples: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

async function roundTrips(sshd: TestSshd, n: number, noDelay: boolean): Promise<{ connect: number; rtts: number[] }> {
  const t = new SshTransport(sshd.host('bench', { user: sshd.user }), { noDelay });
  const t0 = performance.now();
  await t.connect();
  const connect = performance.now() - t0;
  const rtts: number[] = [];
  try {
    await t.exec('true'); // warm-up: first channel
    for (let i = 0; i < n; i++) {
      const s = performance.now();
      const r = await t.exec('true');
      rtts.push(performance.now() - s);
      if (r.code !== 0) throw new Error(`bench: true exited ${r.code}: ${r.stderr}`);
    }
  } finally {
    await t.close();
  }
  return { connect, rtts };
}

export async function benchTransport(sshd: TestSshd, opts: { n?: number; connects?: number; compareNagle?: boolean } = {}): Promise<TransportFigures> {
  const n = opts.n ?? 30;
  const connects: number[] = [];
  const rtts: number[] = [];
  for (let i = 0; i < (opts.connects ?? 5); i++) {
    const r = await roundTrips(sshd, i === 0 ? n : 1, true);
    connects.push(r.connect);
    if (i === 0) rtts.push(...r.rtts);
  }
  const figures: TransportFigures = { connectMs: median(connects), rttMs: median(rtts), samples: n };
  if (opts.compareNagle) figures.rttNagleMs = median((await roundTrips(sshd, n, false)).rtts);
  return figures;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const sshd = await startSshd();
  try {
    const f = await benchTransport(sshd, { n: Number(process.argv[2] ?? 30), compareNagle: true });
    const ms = (x: number | undefined) => (x === undefined ? '-' : `${x.toFixed(1)} ms`);
    console.log(`connect            ${ms(f.connectMs)}`);
    console.log(`exec true (nodelay) ${ms(f.rttMs)}   median of ${f.samples}`);
    console.log(`exec true (Nagle)   ${ms(f.rttNagleMs)}`);
  } finally {
    await sshd.stop();
  }
}
