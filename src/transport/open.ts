/** Picks the transport for a host from its inventory connection settings. */
import type { Host } from '../inventory/types.ts';
import type { Transport } from './types.ts';
import { LocalTransport } from './local.ts';
import { SshTransport } from './ssh.ts';

export function openTransport(host: Host): Transport {
  switch (host.connection.transport) {
    case 'local':
      return new LocalTransport(host);
    case 'ssh':
      return new SshTransport(host);
  }
}
