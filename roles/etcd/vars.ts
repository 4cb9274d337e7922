/**
 * Vars of the etcd role (inventory key `etcd`). Defaults follow the seeds (static 3-member
 * cluster over plain HTTP, client 2379 / peer 2380, token `pg-etcd`) and Debian 12's
 * etcd-server package (data dir /var/lib/etcd/default, /etc/default/etcd).
 */
import { z } from 'zod';
import { Secret } from '../../src/core/secret.ts';
import { HostAddress } from '../../src/core/net.ts';

/** Keys the role renders itself; `settings` may not set them. */
export const MANAGED_ENV_KEYS = [
  'ETCD_NAME',
  'ETCD_DATA_DIR',
  'ETCD_LISTEN_PEER_URLS',
  'ETCD_LISTEN_CLIENT_URLS',
  'ETCD_ADVERTISE_CLIENT_URLS',
  'ETCD_INITIAL_ADVERTISE_PEER_URLS',
  'ETCD_INITIAL_CLUSTER',
  'ETCD_INITIAL_CLUSTER_STATE',
  'ETCD_INITIAL_CLUSTER_TOKEN',
] as const;

const port = z.number().int().min(1).max(65535);

export const EtcdVarsSchema = z
  .strictObject({
    /** Inventory group whose hosts are the members, in inventory order (seeds: 3; 5 survive two failures). */
    group: z.string().min(1).default('etcd'),
    /**
     * Address this member listens on and advertises. Unset: the host's connection address.
     * Set it when SSH reaches the host on another network than the cluster's.
     */
    address: HostAddress.optional(),
    /**
     * --initial-cluster-token (seed: `pg-etcd`); keeps two clusters bootstrapped side by side
     * apart. Not a secret, but the inventory wraps any `*token*` key as one: both are accepted.
     */
    clusterToken: z
      .preprocess((v) => (v instanceof Secret ? v.reveal() : v), z.string().regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, . _ - only'))
      .default('pg-etcd'),
    /** Data directory (Debian's unit default). */
    dataDir: z.string().startsWith('/').default('/var/lib/etcd/default'),
    /** Client port (Patroni connects here). */
    clientPort: port.default(2379),
    /** Peer (raft) port. */
    peerPort: port.default(2380),
    /** Debian 12 packages: the server and etcdctl. */
    packages: z.array(z.string().min(1)).default(['etcd-server', 'etcd-client']),
    /**
     * More etcd settings as environment variables (e.g. ETCD_HEARTBEAT_INTERVAL: '100',
     * ETCD_ELECTION_TIMEOUT: '1000', ETCD_QUOTA_BACKEND_BYTES). A change restarts etcd,
     * one member at a time.
     */
    settings: z
      .record(z.string().regex(/^ETCD_[A-Z0-9_]+$/, 'an ETCD_* variable name'), z.string().regex(/^[^\n\r]*$/, 'one line'))
      .default({}),
    /** Deadline for the cluster to report every member healthy (bootstrap, join, restart). */
    healthTimeoutSeconds: z.number().int().positive().default(120),
  })
  .superRefine((v, ctx) => {
    for (const key of Object.keys(v.settings)) {
      if ((MANAGED_ENV_KEYS as readonly string[]).includes(key))
        ctx.addIssue({ code: 'custom', path: ['settings', key], message: `${key} is set by the role; use the role's own var` });
    }
    if (v.clientPort === v.peerPort) ctx.addIssue({ code: 'custom', path: ['peerPort'], message: 'peerPort must differ from clientPort' });
  });

export type EtcdVars = z.output<typeof EtcdVarsSchema>;
