/**
 * Role pgbackrest: WAL archiving and backups to the repository host. Played on the database
 * hosts and the repository host together (hosts 'postgres:backup'), after Patroni.
 */
import { createHash } from 'node:crypto';
import { defineRole } from '../../src/engine/role.ts';
import { TaskError, type RunTask, type Task } from '../../src/engine/types.ts';
import { command, directory, file, packages, service, user } from '../../src/ops/index.ts';
import { archiveCheck, checkFingerprint, ensureStanza, initialBackup, verify } from './live.ts';
import {
  backupServiceUnit,
  backupTimerUnit,
  dbHostConf,
  renderPgbackrestConf,
  repoHostConf,
  unitName,
  withRelease,
  type BackupType,
} from './render.ts';
import { authorizedKeys, knownHosts, publishKeys, publishedKeysKey, sshIdentity, type Side } from './trust.ts';
import { hostsOf, stateKeys } from '../../src/toolkit/index.ts';
import { restApiPortOf } from '../patroni/exports.ts';
import { PgbackrestVarsSchema, type PgbackrestVars } from './vars.ts';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

/** (stanza, host): the digest of a host's pgbackrest.conf. */
const confDigestKey = stateKeys<string>('pgbackrest:conf');

/** Each host publishes a digest of its config; the repository host's check fingerprint covers them all. */
function publishConfigDigest(v: PgbackrestVars, digest: string): RunTask {
  return {
    kind: 'run',
    name: 'wait for every pgbackrest host to be configured',
    inCheckMode: 'run',
    async run(ctx) {
      ctx.shared.set(confDigestKey(v.stanza, ctx.host.name), digest);
      await ctx.barrier(`pgbackrest:${v.stanza}:configured`);
      return { changed: false };
    },
  };
}

function timerTasks(v: PgbackrestVars): Task[] {
  const types: BackupType[] = ['full', 'diff'];
  if (!v.schedule.enabled) {
    return types.flatMap((t) => [
      command({
        name: `disable ${unitName(v, t, 'timer')}`,
        cmd: `systemctl disable --now ${unitName(v, t, 'timer')}`,
        onlyIf: `systemctl is-enabled --quiet ${unitName(v, t, 'timer')} || systemctl is-active --quiet ${unitName(v, t, 'timer')}`,
      }),
      file({ path: `/etc/systemd/system/${unitName(v, t, 'timer')}`, state: 'absent' }),
      file({ path: `/etc/systemd/system/${unitName(v, t, 'service')}`, state: 'absent' }),
    ]);
  }
  return [
    ...types.flatMap((t) => [
      file({ path: `/etc/systemd/system/${unitName(v, t, 'service')}`, content: backupServiceUnit(v, t), mode: '0644', owner: 'root', group: 'root' }),
      file({ path: `/etc/systemd/system/${unitName(v, t, 'timer')}`, content: backupTimerUnit(v, t), mode: '0644', owner: 'root', group: 'root' }),
    ]),
    ...types.map((t) => service({ name: unitName(v, t, 'timer'), enabled: true, state: 'started' })),
  ];
}

export const pgbackrest = defineRole({
  name: 'pgbackrest',
  description: 'pgBackRest: repository host + database hosts, SSH trust both ways, stanza, check, first full backup',
  dependsOn: ['patroni'],
  vars: PgbackrestVarsSchema,
  tasks(ctx) {
    // The host's release decides what the inventory left unset; handlers share this context.
    ctx.vars = withRelease(ctx.vars, ctx.facts);
    const v = ctx.vars;
    const dbHosts = hostsOf(ctx.inventory, v.dbGroup, { varName: 'pgbackrest.dbGroup' });
    const repoHosts = hostsOf(ctx.inventory, v.repoGroup, { varName: 'pgbackrest.repoGroup' });
    const repo = repoHosts[0];
    if (!repo) throw new TaskError(`pgbackrest: group "${v.repoGroup}" has no host for the repository`);
    const me = ctx.host;
    const isRepo = me.name === repo.name;
    const isDb = dbHosts.some((h) => h.name === me.name);
    if (isRepo && isDb) throw new TaskError(`pgbackrest: ${me.name} is both the repository host and a database host; keep the repository apart`);
    if (!isRepo && !isDb) {
      throw new TaskError(`pgbackrest: ${me.name} is neither in group "${v.dbGroup}" nor the repository host (${repo.name}); play this role on "${v.dbGroup}:${v.repoGroup}"`);
    }
    const side: Side = isRepo ? { user: v.repoUser, home: v.repoUserHome } : { user: v.pgUser, home: v.pgUserHome };
    const peers = (isRepo ? dbHosts : [repo]).map((h) => ({ name: h.name, address: h.connection.address }));
    const members = dbHosts.map((h) => ({ name: h.name, address: h.connection.address }));
    const cipher = v.repo.cipherPass?.reveal();
    const conf = renderPgbackrestConf(isRepo ? repoHostConf(v, members, cipher) : dbHostConf(v, repo.connection.address));

    const tasks: Task[] = [packages({ names: [v.package, 'openssh-client'] })];
    if (isRepo) {
      tasks.push(
        user({ name: v.repoUser, system: true, home: v.repoUserHome, shell: '/bin/sh', createHome: true }),
        directory({ path: v.repo.path, owner: v.repoUser, group: v.repoUser, mode: '0750' }),
      );
    } else if (v.archiveAsync) {
      tasks.push(directory({ path: v.spoolPath, owner: v.pgUser, group: v.pgUser, mode: '0750' }));
    }
    tasks.push(
      directory({ path: v.logPath, owner: side.user, group: side.user, mode: '0770' }),
      sshIdentity(side, me.name),
      publishKeys(v.stanza, side),
      authorizedKeys(v.stanza, side, side.user, peers),
      knownHosts(v.stanza, side, side.user, peers),
      file({
        path: v.configPath,
        content: conf,
        mode: '0640',
        owner: 'root',
        group: side.user,
        // The repository host's file may hold the cipher passphrase (now or from before): its
        // diff never shows lines. A database host's never holds a secret.
        ...(isRepo ? { sensitive: true } : {}),
      }),
    );
    if (isDb && v.checkArchiveCommand) tasks.push(archiveCheck(v, restApiPortOf(me, ctx.inventory)));
    tasks.push(publishConfigDigest(v, sha(conf)));
    if (isRepo) {
      tasks.push(ensureStanza(v));
      tasks.push(
        verify(v, (c) =>
          checkFingerprint(
            [me, ...dbHosts].map((h) => {
              const digest = c.shared.get(confDigestKey(v.stanza, h.name));
              const keys = c.shared.get(publishedKeysKey(v.stanza, h.name));
              return `${h.name} ${digest ?? 'absent'} ${JSON.stringify(keys ?? null)}`;
            }),
          ),
          (c) => dbHosts.filter((h) => c.shared.get(confDigestKey(v.stanza, h.name)) === undefined).map((h) => h.name),
        ),
      );
      if (v.initialFullBackup) tasks.push(initialBackup(v));
      tasks.push(...timerTasks(v));
    }
    return tasks;
  },
});

export default pgbackrest;

