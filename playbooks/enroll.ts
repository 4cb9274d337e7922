/**
 * enroll: hosts newly added to the inventory join the running cluster, and only what must
 * follow changes elsewhere — without restarting anything else.
 *
 *   npx rigger run playbooks/enroll.ts -i inventories/prod -l pg4
 *
 * The limit names the new hosts: they get the base roles, PostgreSQL, Patroni (which clones
 * from the leader) and pgBackRest. The plays marked beyondLimit also converge the existing
 * hosts, where the roles change only what the new member needs: etcd membership (member add
 * from a running member when the new host is in the etcd group; the others' bootstrap-only
 * settings are rewritten without a restart), pg_hba and the etcd host list in every
 * patroni.yml (Patroni reloads), the repository host's pgBackRest config and SSH trust, and
 * the HAProxy backends on every balancer (reloaded, never restarted), and keepalived's peers
 * when the new host is a balancer too. It ends when the new
 * member streams from the leader and every balancer routes reads to it.
 */
import { definePlay, definePlaybook, sequence } from '../src/engine/play.ts';
import chrony from '../roles/chrony/index.ts';
import etcd from '../roles/etcd/index.ts';
import haproxy from '../roles/haproxy/index.ts';
import keepalived from '../roles/keepalived/index.ts';
import patroni from '../roles/patroni/index.ts';
import pgbackrest from '../roles/pgbackrest/index.ts';
import postgres from '../roles/postgres/index.ts';
import softdog from '../roles/softdog/index.ts';
import { enrolledPlay } from './day2/enrolled-play.ts';

export default definePlaybook(
  'enroll',
  sequence(
    // Every new host keeps time, balancers and database hosts alike (one host may be both).
    definePlay({ name: 'clock', hosts: 'all', roles: [chrony] }),
    definePlay({ name: 'etcd', hosts: 'etcd', beyondLimit: 'all', roles: [etcd], anyErrorsFatal: true }),
    definePlay({ name: 'postgres', hosts: 'postgres', roles: [postgres, softdog] }),
    definePlay({ name: 'patroni', hosts: 'postgres', beyondLimit: 'all', roles: [patroni], anyErrorsFatal: true }),
    definePlay({ name: 'backup', hosts: 'postgres:backup', beyondLimit: 'backup', roles: [pgbackrest] }),
    // A new balancer gets keepalived too; the others learn it as a VRRP peer (a reload, no restart).
    definePlay({ name: 'balancers', hosts: 'balancers', beyondLimit: 'all', roles: [haproxy, keepalived] }),
    // Done when the new member streams and every balancer sends it reads.
    enrolledPlay(),
  ),
);
