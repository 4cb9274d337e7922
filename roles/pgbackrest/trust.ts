/**
 * SSH trust between the repository host and the database hosts, for pgbackrest's own
 * connections (archive-push db -> repo, backup repo -> db). Each host makes its user's key
 * pair once, publishes the public half and its own host key in the run's shared store, and
 * after a barrier writes the other side's keys into authorized_keys and known_hosts.
 * Host keys come from each host's /etc/ssh over our own verified connection: never learned
 * blindly over the network.
 */
import { TaskError, type OpTask, type RunTask, type TaskContext } from '../../src/engine/types.ts';
import { shQuote } from '../../src/transport/types.ts';
import { blockFile } from './block-file.ts';
import { authorizedKeyLine, keyTag, knownHostsLine } from './render.ts';
import { stateKeys } from '../../src/toolkit/index.ts';

export interface Side {
  /** OS user pgbackrest runs as on this host, its home. */
  user: string;
  home: string;
}

export interface Peer {
  name: string;
  address: string;
}

export interface PublishedKeys {
  /** Public key of the pgbackrest user; null when not generated yet (check mode on a new host). */
  userKey: string | null;
  hostKey: string | null;
}

export const HOST_KEY = '/etc/ssh/ssh_host_ed25519_key.pub';

/** (stanza, host): the keys a host published for its peers to pin. */
export const publishedKeysKey = stateKeys<PublishedKeys>('pgbackrest:keys');

/** The user's key pair: generated on the host once, the private half never leaves it. */
export function sshIdentity(side: Side, hostName: string): OpTask {
  const dir = `${side.home}/.ssh`;
  const key = `${dir}/id_ed25519`;
  return {
    kind: 'op',
    name: `SSH key of ${side.user} for pgbackrest`,
    probe: [
      `if getent passwd ${shQuote(side.user)} >/dev/null; then echo user=yes; fi`,
      `if [ -d ${shQuote(dir)} ]; then echo "dir=$(stat -c '%U %a' ${shQuote(dir)})"; fi`,
      `if [ -f ${shQuote(key)} ] && [ -f ${shQuote(`${key}.pub`)} ]; then echo key=yes; fi`,
    ].join('\n'),
    plan(probe, ctx) {
      const userExists = /^user=yes$/m.test(probe.stdout);
      const dirState = /^dir=(.*)$/m.exec(probe.stdout)?.[1] ?? null;
      const hasKey = /^key=yes$/m.test(probe.stdout);
      if (!userExists && !ctx.check) {
        throw new TaskError(`user ${side.user} does not exist on ${hostName}: play the role that creates it (postgres) before pgbackrest`);
      }
      if (hasKey && dirState === `${side.user} 700`) return { change: false };
      return {
        change: true,
        summary: hasKey ? `${dir}: owner/mode -> ${side.user} 0700` : `generate ${key} (ed25519)`,
        commands: [
          {
            script: [
              'set -e',
              `g=$(id -gn ${shQuote(side.user)})`,
              `install -d -m 0700 -o ${shQuote(side.user)} -g "$g" ${shQuote(dir)}`,
              `chown ${shQuote(side.user)}:"$g" ${shQuote(dir)} && chmod 0700 ${shQuote(dir)}`,
              `if [ ! -f ${shQuote(key)} ]; then runuser -u ${shQuote(side.user)} -- ssh-keygen -q -t ed25519 -N '' -C ${shQuote(`${side.user}@${hostName}`)} -f ${shQuote(key)}; fi`,
            ].join('\n'),
            what: `the SSH key of ${side.user}`,
          },
        ],
      };
    },
  };
}

/** Reads this host's public keys into the shared store, then waits for every host of the play. */
export function publishKeys(stanza: string, side: Side): RunTask {
  return {
    kind: 'run',
    name: 'exchange SSH keys for pgbackrest',
    // Read-only: in check mode the others still need our keys to plan their files.
    inCheckMode: 'run',
    async run(ctx) {
      const sep = '@@RIGGER-SEP@@';
      const r = await ctx.exec(`cat ${shQuote(`${side.home}/.ssh/id_ed25519.pub`)} 2>/dev/null; echo ${sep}; cat ${HOST_KEY} 2>/dev/null; true`);
      const [user = '', host = ''] = r.stdout.split(`${sep}\n`);
      const keys: PublishedKeys = { userKey: user.trim() || null, hostKey: host.trim() || null };
      if (!keys.hostKey) throw new TaskError(`${HOST_KEY} is missing on ${ctx.host.name}: its host key cannot be pinned for pgbackrest's SSH`);
      if (!keys.userKey && !ctx.check) throw new TaskError(`${side.home}/.ssh/id_ed25519.pub is missing on ${ctx.host.name}`);
      ctx.shared.set(publishedKeysKey(stanza, ctx.host.name), keys);
      await ctx.barrier(`pgbackrest:${stanza}:keys`);
      return { changed: false };
    },
  };
}

function published(ctx: TaskContext, stanza: string, peer: string): PublishedKeys | undefined {
  return ctx.shared.get(publishedKeysKey(stanza, peer));
}

/**
 * Lines for the peers: from what they published in this run; for a peer that is not in this
 * run (--limit), the line we wrote before is kept.
 */
export function peerLines(
  peers: Peer[],
  current: string[],
  lineFor: (p: Peer) => string | null | undefined,
  isLineOf: (p: Peer, line: string) => boolean,
): string[] {
  const out: string[] = [];
  for (const p of peers) {
    const line = lineFor(p);
    if (line === undefined) out.push(...current.filter((l) => isLineOf(p, l)));
    else if (line !== null) out.push(line);
  }
  return out;
}

/** One SSH file's block of peer lines, built from the keys each peer published in this run. */
function peerKeysBlock(
  stanza: string,
  side: Side,
  group: string,
  peers: Peer[],
  f: { file: string; mode: string; which: keyof PublishedKeys; line: (p: Peer, key: string) => string; isLineOf: (p: Peer, line: string) => boolean },
): OpTask {
  return blockFile({
    name: `${f.file} of ${side.user}: pgbackrest peers`,
    path: `${side.home}/.ssh/${f.file}`,
    owner: side.user,
    group,
    mode: f.mode,
    lines: (ctx, current) =>
      peerLines(
        peers,
        current,
        (p) => {
          const k = published(ctx, stanza, p.name);
          const key = k?.[f.which];
          return k === undefined ? undefined : key === null || key === undefined ? null : f.line(p, key);
        },
        f.isLineOf,
      ),
  });
}

/** authorized_keys block: the peers' pgbackrest users may run commands as our user. */
export function authorizedKeys(stanza: string, side: Side, group: string, peers: Peer[]): OpTask {
  return peerKeysBlock(stanza, side, group, peers, {
    file: 'authorized_keys',
    mode: '0600',
    which: 'userKey',
    line: (p, key) => authorizedKeyLine(p.name, key),
    isLineOf: (p, l) => l.endsWith(` ${keyTag(p.name)}`),
  });
}

/** known_hosts block: the peers' own host keys, under inventory name and address. */
export function knownHosts(stanza: string, side: Side, group: string, peers: Peer[]): OpTask {
  return peerKeysBlock(stanza, side, group, peers, {
    file: 'known_hosts',
    mode: '0644',
    which: 'hostKey',
    line: (p, key) => knownHostsLine([p.name, p.address], key),
    isLineOf: (p, l) => l.startsWith(`${p.name},`),
  });
}
