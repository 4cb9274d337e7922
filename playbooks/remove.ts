/**
 * remove: a database host (and etcd member) taken out of the cluster for good, alive or dead.
 *
 *   npx rigger run playbooks/remove.ts -i inventories/prod -l pg3
 *   (then delete pg3 from the inventory; site.ts changes nothing on the others)
 *
 * -l names the departing host: the run goes on the other hosts, against the inventory as it
 * will be without it (src/engine/departing.ts). Refused, with nothing changed: the Patroni
 * leader (switch over first: switchover.ts), a removal that would leave the etcd cluster
 * without a quorum, a balancer alone or the backup host (a balancer on a database host goes
 * with it: the virtual IP handed over first, keepalived and HAProxy stopped there). Then, on the first database member that stays:
 * the host drained from every balancer's read pool, Patroni stopped and disabled on it and its
 * member key gone from the DCS, its etcd member removed (before its etcd stops), etcd stopped
 * and disabled there. The others converge without it: etcd's member list, pg_hba and the etcd
 * hosts in every patroni.yml (reload), the repository's pgBackRest config and SSH trust, HAProxy
 * on every balancer (reload, never restart). It ends when the host is gone from Patroni, etcd,
 * every HAProxy and the leader's replication slots. A dead host is removed from the others
 * with a warning naming what was not touched on it; a second run is a no-op.
 */
import { definePlay, definePlaybook, sequence } from '../src/engine/play.ts';
import etcd from '../roles/etcd/index.ts';
import haproxy from '../roles/haproxy/index.ts';
import keepalived from '../roles/keepalived/index.ts';
import patroni from '../roles/patroni/index.ts';
import pgbackrest from '../roles/pgbackrest/index.ts';
import { removalPlay, removedPlay } from './day2/remove-plays.ts';

export default definePlaybook(
  { name: 'remove', departing: 'limit' },
  sequence(
    removalPlay(),
    // The others as they will be once the host is deleted from the inventory.
    definePlay({ name: 'etcd', hosts: 'etcd', roles: [etcd], anyErrorsFatal: true }),
    definePlay({ name: 'patroni', hosts: 'postgres', roles: [patroni], anyErrorsFatal: true }),
    definePlay({ name: 'backup', hosts: 'postgres:backup', roles: [pgbackrest] }),
    definePlay({ name: 'balancers', hosts: 'balancers', roles: [haproxy, keepalived] }),
    removedPlay(),
  ),
);
