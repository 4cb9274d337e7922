/**
 * site: the whole stack from bare hosts, and the converge run after that (a second run
 * changes nothing). The balancers' roles and the database sequence do not depend on each
 * other and run at the same time; on the database side the order is the dependency order:
 * clock -> etcd -> PostgreSQL packages (+ watchdog) -> Patroni -> pgBackRest.
 *
 *   npx rigger run playbooks/site.ts -i inventories/prod [--check --diff]
 *
 * Where the balancers are database hosts too, the engine runs the two branches one after the
 * other (parallel() never puts two plays on one host at the same time).
 *
 * A member down (a host the cluster already has: see Membership in the README) does not stop
 * the others: a minority of etcd members or of Patroni members may be unreachable, the rest
 * converge; a majority down stops the run.
 */
import { definePlay, definePlaybook, parallel, sequence } from '../src/engine/play.ts';
import chrony from '../roles/chrony/index.ts';
import etcd from '../roles/etcd/index.ts';
import haproxy from '../roles/haproxy/index.ts';
import keepalived from '../roles/keepalived/index.ts';
import patroni from '../roles/patroni/index.ts';
import pgbackrest from '../roles/pgbackrest/index.ts';
import postgres from '../roles/postgres/index.ts';
import softdog from '../roles/softdog/index.ts';

export default definePlaybook(
  'site',
  parallel(
    definePlay({ name: 'balancers', hosts: 'balancers', roles: [chrony, haproxy, keepalived] }),
    sequence(
      // Clock sync before etcd: leases and Patroni's TTL are wall-clock time (seeds).
      definePlay({ name: 'clock', hosts: 'all:!balancers', roles: [chrony] }),
      // Without a healthy DCS nothing after makes sense: more than a minority failed stops the run.
      definePlay({ name: 'etcd', hosts: 'etcd', roles: [etcd], maxFailPercent: 49 }),
      definePlay({ name: 'postgres', hosts: 'postgres', roles: [postgres, softdog] }),
      definePlay({ name: 'patroni', hosts: 'postgres', roles: [patroni], maxFailPercent: 49 }),
      definePlay({ name: 'backup', hosts: 'postgres:backup', roles: [pgbackrest] }),
    ),
  ),
);
