/**
 * The pure parts of remove.ts (playbooks/day2/lib/remove.ts): when removing an etcd member
 * keeps the quorum, the DCS key and slot name of a Patroni member. No host, no lab.
 */
import { describe, expect, it } from 'vitest';
import { PatroniVarsSchema } from '../../roles/patroni/vars.ts';
import { etcdRemovalProblem, memberKey, slotName } from '../../playbooks/day2/lib/remove.ts';
import { Secret } from '../../src/core/secret.ts';

describe('remove.ts: etcd quorum arithmetic', () => {
  it('3 members all healthy: any one may go', () => {
    expect(etcdRemovalProblem(3, 2, true)).toBeNull();
  });
  it('3 members, the departing one dead: the 2 left are a quorum of 2', () => {
    expect(etcdRemovalProblem(3, 2, false)).toBeNull();
  });
  it('3 members, another one already down: the 1 left is no quorum of 2', () => {
    expect(etcdRemovalProblem(3, 1, true)).toMatch(/2 members left would have 1 healthy, short of a quorum \(2\)/);
  });
  it('4 members, the departing one and another down: no quorum now, member remove cannot commit', () => {
    expect(etcdRemovalProblem(4, 2, false)).toMatch(/no quorum now \(2 of 4/);
  });
  it('4 members, one other down: 3 left with 2 healthy is a quorum', () => {
    expect(etcdRemovalProblem(4, 2, true)).toBeNull();
  });
  it('the last member', () => {
    expect(etcdRemovalProblem(1, 0, true)).toMatch(/last etcd member/);
  });
});

describe('remove.ts: names in the DCS and on the leader', () => {
  const pw = { password: new Secret('x') };
  const v = PatroniVarsSchema.parse({ restapi: pw, authentication: { superuser: pw, replication: pw, rewind: pw } });
  it('member key under namespace and scope', () => {
    expect(memberKey(v, 'pg4')).toBe('/service/pg-cluster/members/pg4');
    expect(memberKey({ ...v, namespace: '/db/', scope: 'main' }, 'pg4')).toBe('/db/main/members/pg4');
  });
  it("slot names as Patroni makes them", () => {
    expect(slotName('pg4')).toBe('pg4');
    expect(slotName('DB-4.example')).toBe('db_4_example');
  });
});
