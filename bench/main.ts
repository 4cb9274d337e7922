/**
 * npm run bench — prints the figures the speed claims rest on (never asserted in tests):
 *  (a) engine overhead, 500 hosts x 50 ops, nothing to change, fake transport;
 *  (b) no-op converge of 20 items on 3 and on 10 real sshd on loopback, connection included,
 *      against the floor of one SSH handshake plus one round trip;
 *  (c) round trips and bytes per host.
 */
import { engineOverhead } from './engine-overhead.ts';
import { noopConverge, startServers } from './converge.ts';
import { benchTransport } from './transport.ts';
import { sshdSkipReason } from '../test/support/sshd.ts';

const fmt = (n: number, d = 1) => n.toFixed(d);

const a = await engineOverhead(500, 50);
console.log(`(a) engine overhead, 500 hosts x 50 ops, no-op, fake transport: ${fmt(a.ms, 0)} ms total, ${fmt(a.perHostOpUs, 2)} µs per host-op, ${fmt(a.execsPerHost)} round trips per host, heap ${fmt(a.heapMb, 0)} MB`);

const skip = sshdSkipReason();
if (skip) {
  console.log(`(b)/(c) skipped: ${skip}`);
} else {
  const servers = await startServers(10);
  try {
    const floor = await benchTransport(servers[0]!, { n: 30, connects: 5 });
    console.log(`floor: one SSH handshake ${fmt(floor.connectMs)} ms + one round trip ${fmt(floor.rttMs)} ms = ${fmt(floor.connectMs + floor.rttMs)} ms`);
    for (const n of [3, 10]) {
      const b = await noopConverge(servers.slice(0, n));
      console.log(
        `(b) no-op converge, 20 items on ${n} sshd (connection included): ${fmt(b.noopMs, 0)} ms wall, ` +
          `${fmt(b.noopMs / (floor.connectMs + floor.rttMs), 2)}x the floor; changed on no-op runs: ${b.changedOnNoop}`,
      );
      console.log(`(c) per host: ${fmt(b.execsPerHost)} round trips, ${fmt(b.bytesOutPerHost / 1024)} KiB out, ${fmt(b.bytesInPerHost / 1024)} KiB in`);
    }
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
}
