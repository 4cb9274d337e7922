/**
 * Bad command lines and inventories, through the real CLI (`node bin/rigger.js`): each is
 * refused before any host is touched, with an exit code as ansible-playbook's (1 bad input,
 * 4 unreachable) and an error naming what is wrong. When a loopback sshd can run, the good
 * inventory every case starts from points at it, and its log must show no connection.
 *
 * Adding a case is one row in CASES: the files it writes (over the base inventory), the
 * arguments, the exit code, and words the error must contain. In files and arguments,
 * {dir} {port} {user} {key} {known} {playbook} are replaced by the case's temp dir, the sshd's
 * port, user, private key and known_hosts, and the demo playbook.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { startSshd, sshdSkipReason, type TestSshd } from '../support/sshd.ts';

const BIN = resolve('bin/rigger.js');
const PLAYBOOK = resolve('test/fixtures/playbooks/demo.ts');
const SECRET = 'Pw-' + Math.random().toString(36).slice(2) + '-bad9';

interface Case {
  name: string;
  /** Files to write under {dir}, over BASE (null removes a base file). */
  files?: Record<string, string | null>;
  args: string[];
  /** Environment over the base (DEMO_PASSWORD set); null unsets a variable. */
  env?: Record<string, string | null>;
  /** Expected exit status (default 1: bad input). */
  code?: number;
  /** Words (or patterns) the output must contain (stderr, and stdout for a case that exits 0). */
  says: Array<string | RegExp>;
}

/** The good inventory each case starts from: an Ansible INI inventory at the loopback sshd. */
const BASE: Record<string, string> = {
  'inv/hosts': '[app]\nh1 ansible_host=127.0.0.1 ansible_port={port} ansible_user={user} ansible_ssh_private_key_file={key} ansible_become=true\n',
  'inv/group_vars/app.yml': 'demo:\n  dir: {dir}/target\n  password: { secret: { env: DEMO_PASSWORD } }\n',
};

/** `rigger run PLAYBOOK -i {dir}/inv --known-hosts {known} ...extra` */
const run = (...extra: string[]) => ['run', '{playbook}', '-i', '{dir}/inv', '--known-hosts', '{known}', ...extra];
/** The base inventory with h1's host line replaced. */
const hostLine = (line: string) => ({ 'inv/hosts': `[app]\n${line}\n` });
const H1 = 'h1 ansible_host=127.0.0.1 ansible_port={port} ansible_user={user} ansible_ssh_private_key_file={key}';

/**
 * Role vars mistakes against the real site playbook, over an inventory of ours (hosts.yml +
 * group_vars/host_vars) whose hosts are never contacted: --list-tasks answers from the plan,
 * and the plan refuses. `siteCase(files, ...says)` writes `files` over that inventory.
 */
const SITE_INV: Record<string, string | null> = {
  'inv/hosts': null,
  'inv/group_vars/app.yml': null,
  'inv/hosts.yml': [
    'hosts:',
    '  pg1: { address: 192.0.2.11 }',
    '  pg2: { address: 192.0.2.12 }',
    '  pg3: { address: 192.0.2.13 }',
    '  lb1: { address: 192.0.2.21 }',
    '  lb2: { address: 192.0.2.22 }',
    '  backup1: { address: backup1.example.net }',
    'groups:',
    '  postgres: { hosts: [pg1, pg2, pg3] }',
    '  etcd: { hosts: [pg1, pg2, pg3] }',
    '  balancers: { hosts: [lb1, lb2] }',
    '  backup: { hosts: [backup1] }',
    '',
  ].join('\n'),
  'inv/group_vars/balancers.yml': 'keepalived: { virtualIp: 192.0.2.10, prefix: 24 }\n',
  'inv/group_vars/postgres.yml': [
    'patroni:',
    '  restapi: { password: { secret: { value: api-pass-1 } } }',
    '  authentication:',
    '    superuser: { password: { secret: { value: super-pass-1 } } }',
    '    replication: { password: { secret: { value: repl-pass-1 } } }',
    '    rewind: { password: { secret: { value: rewind-pass-1 } } }',
    '',
  ].join('\n'),
};
const siteCase = (name: string, files: Record<string, string>, ...says: Array<string | RegExp>): Case => ({
  name: `site: ${name}`,
  files: { ...SITE_INV, ...Object.fromEntries(Object.entries(files).map(([k, v]) => [`inv/${k}`, k === 'group_vars/postgres.yml' ? SITE_INV['inv/group_vars/postgres.yml'] + v : v])) },
  args: ['run', 'playbooks/site.ts', '-i', '{dir}/inv', '--list-tasks'],
  says,
});

export const CASES: Case[] = [
  // command line
  { name: 'unknown command', args: ['deploy', '-i', '{dir}/inv'], says: ['unknown command', 'deploy'] },
  { name: 'unknown flag', args: run('--chek'), says: ['--chek'] },
  { name: 'flag of another command', args: ['facts', '-i', '{dir}/inv', '--check'], says: ['facts', "'--check'", 'rigger facts --help'] },
  { name: 'repeated -i', args: [...run(), '-i', '{dir}/inv'], says: ['-i/--inventory given 2 times', 'one inventory'] },
  { name: '--events in a missing directory', args: run('--events', '{dir}/no/such/dir/events.jsonl'), says: ['--events', 'no such directory'] },
  { name: '--known-hosts file missing', args: [...run(), '--known-hosts', '{dir}/known_hostz'], says: ['--known-hosts', 'known_hostz', 'no such file'] },
  { name: '--known-hosts missing for facts', args: ['facts', '-i', '{dir}/inv', '--known-hosts', '{dir}/kh'], says: ['--known-hosts', 'no such file'] },
  { name: '-t with no tag', args: run('-t', ','), says: ['--tags ","', 'no tag given'] },
  { name: 'flag missing its value', args: run('--events'), says: ['--events'] },
  { name: 'help for an unknown command', args: ['help', 'deploy'], says: ['unknown command "deploy"'] },
  { name: 'missing -i', args: ['run', '{playbook}'], says: ['-i/--inventory'] },
  { name: 'missing playbook argument', args: ['run', '-i', '{dir}/inv'], says: ['PLAYBOOK'] },
  { name: 'playbook file not found', args: ['run', '{dir}/nope.ts', '-i', '{dir}/inv'], says: ['nope.ts', 'not found'] },
  { name: 'playbook without a default playbook export', files: { 'pb.mts': 'export const x = 1;\n' }, args: ['run', '{dir}/pb.mts', '-i', '{dir}/inv'], says: ['pb.mts', 'definePlaybook'] },
  { name: 'two playbooks', args: run('{playbook}'), says: ['unexpected argument'] },
  { name: '-f zero', args: run('-f', '0'), says: ['--forks', '"0"'] },
  { name: '-f not a number', args: run('--forks', 'many'), says: ['--forks', '"many"'] },
  { name: '-e without =', args: run('-e', 'rollout'), says: ['-e "rollout"', 'KEY=VALUE'] },
  { name: '-e secret-looking key', args: run('-e', 'demo.password=x'), says: ['demo.password', 'secrets never go on a command line'] },
  { name: '-e wrong type for a role var', args: run('-e', 'demo.fail=maybe'), says: ['demo.fail', '--extra-vars', 'boolean'] },
  // --limit
  { name: 'blank -l', args: run('-l', ''), says: ['-l/--limit ""', 'empty limit would select every host'] },
  { name: 'spaces-only -l', args: run('-l', '  '), says: ['empty limit would select every host'] },
  { name: 'unknown group in -l', args: run('-l', 'nosuchgroup'), says: ['--limit', 'unknown group or host "nosuchgroup"'] },
  { name: '-l matching no host', args: run('-l', 'app:&ungrouped'), says: ['-l/--limit "app:&ungrouped"', 'matches no host'] },
  { name: 'blank -l for inventory', args: ['inventory', '-i', '{dir}/inv', '-l', ''], says: ['empty limit would select every host'] },
  { name: 'blank -l for facts', args: ['facts', '-i', '{dir}/inv', '--limit='], says: ['empty limit would select every host'] },
  // tags
  { name: 'unknown -t', args: run('-t', 'demo,dmo'), says: ['-t/--tags: unknown tag "dmo"', 'known tags: demo'] },
  { name: 'unknown --skip-tags', args: run('--skip-tags', 'patroni'), says: ['--skip-tags: unknown tag "patroni"', 'known tags: demo'] },
  { name: '--list-tags answers without connecting', args: run('--list-tags'), code: 0, says: ['play "demo" (app): TAGS: [demo]'] },
  // inventory
  { name: 'inventory path missing', args: ['run', '{playbook}', '-i', '{dir}/nowhere'], says: ['nowhere', 'no such file'] },
  { name: 'bad port in the inventory', files: hostLine(H1.replace('{port}', 'abc')), args: run(), says: ['hosts', 'host h1', 'ansible_port', 'port number'] },
  { name: 'unset secret env for run', args: run(), env: { DEMO_PASSWORD: null }, says: ['group_vars/app.yml', 'group app', 'demo.password.secret', 'DEMO_PASSWORD is not set'] },
  { name: 'inventory shows an unset secret env as unset', args: ['inventory', '-i', '{dir}/inv'], env: { DEMO_PASSWORD: null }, code: 0, says: ['password: "(unset: environment variable DEMO_PASSWORD)"'] },
  { name: 'unset secret env for facts', args: ['facts', '-i', '{dir}/inv'], env: { DEMO_PASSWORD: null }, says: ['group_vars/app.yml', 'demo.password.secret', 'DEMO_PASSWORD is not set'] },
  { name: 'unset secret env for --list-hosts', args: run('--list-hosts'), env: { DEMO_PASSWORD: null }, says: ['DEMO_PASSWORD is not set'] },
  { name: 'wrong type of a role var', files: { 'inv/host_vars/h1.yml': 'demo:\n  fail: maybe-not\n' }, args: run(), says: ['host_vars/h1.yml', 'host h1', 'demo.fail'] },
  // role vars against the site playbook: each mistake once, naming the file, the hosts and the key
  { ...siteCase('the good site inventory lists its tasks', {}), code: 0, says: ['play "patroni" (postgres)'] },
  siteCase('misspelled nested key', { 'group_vars/postgres.yml': '  dcs: { tll: 30 }\n' }, 'group_vars/postgres.yml: hosts pg1, pg2, pg3: patroni.dcs.tll: unknown key (did you mean "ttl"?)'),
  siteCase('misspelled role key', { 'group_vars/postgres.yml': '  sope: main\n' }, 'patroni.sope: unknown key (did you mean "scope"?)'),
  siteCase('misspelled etcd key', { 'group_vars/etcd.yml': 'etcd: { clientport: 2379 }\n' }, 'group_vars/etcd.yml: hosts pg1, pg2, pg3: etcd.clientport: unknown key (did you mean "clientPort"?)'),
  siteCase('misspelled postgres key', { 'host_vars/pg2.yml': 'postgres: { verison: 16 }\n' }, 'host_vars/pg2.yml: host pg2: postgres.verison: unknown key (did you mean "version"?)'),
  siteCase('misspelled top-level key', { 'group_vars/all.yml': 'patrony: { scope: main }\n' }, /group_vars\/all\.yml: hosts pg1, pg2, pg3, lb1, lb2, backup1: patrony: unknown key \(did you mean "patroni"\?\)/),
  siteCase('network with a blank', { 'group_vars/postgres.yml': '  hba: { clientNetworks: ["10.0.2.0 /24"] }\n' }, 'patroni.hba.clientNetworks[0]: expected a network like 10.0.2.0/24 without blanks'),
  siteCase('network with host bits', { 'group_vars/postgres.yml': '  hba: { clientNetworks: [10.0.2.5/24] }\n' }, 'host bits set in 10.0.2.5/24: the network is 10.0.2.0/24'),
  siteCase('bad host address', { 'hosts.yml': SITE_INV['inv/hosts.yml']!.replace('192.0.2.11', '192.0.2.311') }, 'host pg1: address: expected an IPv4/IPv6 address or a DNS host name'),
  siteCase('bad virtual IP', { 'group_vars/balancers.yml': 'keepalived: { virtualIp: 192.0.2.256 }\n' }, 'group_vars/balancers.yml: hosts lb1, lb2: keepalived.virtualIp: expected an IPv4 address'),
  siteCase('PostgreSQL versions differ', { 'host_vars/pg3.yml': 'postgres: { version: 16 }\n' }, "host_vars/pg3.yml: host pg3: postgres.version: 16 but patroni.postgresVersion is unset (the host release's)"),
  siteCase('ports collide on a host', { 'group_vars/etcd.yml': 'etcd: { clientPort: 8008 }\n' }, 'port 8008: patroni.restapi.port and etcd.clientPort would both listen on it'),
  siteCase('scope differs between members', { 'host_vars/pg3.yml': 'patroni: { scope: other }\n' }, 'patroni.scope: hosts of group "postgres" disagree'),
  siteCase('etcd group missing', { 'group_vars/postgres.yml': '  groups: { etcd: dcs }\n' }, 'patroni.groups.etcd: group "dcs" is not in the inventory'),
  // private key files: bad input before connecting, not an unreachable host
  { name: 'key path missing (host line)', files: hostLine(H1.replace('{key}', '{dir}/nokey')), args: run(), says: ['inv/hosts:2', 'host h1', 'ansible_ssh_private_key_file', 'nokey does not exist'] },
  { name: 'key path missing (facts)', files: hostLine(H1.replace('{key}', '{dir}/nokey')), args: ['facts', '-i', '{dir}/inv'], says: ['host h1', 'ansible_ssh_private_key_file', 'does not exist'] },
  {
    name: 'key path missing (group_vars)',
    files: { 'inv/hosts': '[app]\nh1 ansible_host=127.0.0.1 ansible_port={port} ansible_user={user}\n', 'inv/group_vars/all.yml': 'ansible_ssh_private_key_file: {dir}/gone_key\n' },
    args: run(),
    says: ['group_vars/all.yml', 'host h1', 'ansible_ssh_private_key_file', 'gone_key does not exist'],
  },
  { name: 'key file is not a key', files: { ...hostLine(H1.replace('{key}', '{dir}/inv/hosts')) }, args: run(), says: ['host h1', 'ansible_ssh_private_key_file', 'not a private key'] },
  { name: 'key path is a directory', files: hostLine(H1.replace('{key}', '{dir}')), args: run(), says: ['host h1', 'is not a file'] },
  {
    name: 'key path missing (ours, connection:)',
    files: { 'inv/hosts': null, 'inv/hosts.yml': 'connection: { privateKey: keys/none, port: {port} }\nhosts:\n  h1: { address: 127.0.0.1, user: {user} }\ngroups:\n  app: { hosts: [h1] }\n' },
    args: run(),
    says: ['inv/hosts.yml: host h1: connection.privateKey', 'keys/none does not exist'],
  },
  {
    name: 'key path missing (ours, host entry)',
    files: { 'inv/hosts': null, 'inv/hosts.yml': 'hosts:\n  h1: { address: 127.0.0.1, port: {port}, user: {user}, privateKey: /nonexistent/id }\ngroups:\n  app: { hosts: [h1] }\n' },
    args: run(),
    says: ['inv/hosts.yml: host h1: privateKey: private key /nonexistent/id does not exist'],
  },
  // Ansible connection vars rigger does not honour: refused, never dropped
  { name: 'ansible_password', files: hostLine(`${H1} ansible_password=hunter2`), args: run(), says: ['inv/hosts:2', 'host h1', 'ansible_password', 'keys only'] },
  { name: 'ansible_become_user other than root', files: hostLine(`${H1} ansible_become=true ansible_become_user=postgres`), args: run(), says: ['host h1', 'ansible_become_user', 'root only'] },
  { name: 'ansible_connection docker', files: hostLine(`${H1} ansible_connection=docker`), args: run(), says: ['host h1', 'ansible_connection', 'ssh or local'] },
  {
    name: 'ansible_ssh_common_args other than a ProxyJump (group_vars)',
    files: { 'inv/group_vars/all.yml': 'ansible_ssh_common_args: "-o ProxyCommand=nc %h %p"\n' },
    args: run(),
    says: ['group_vars/all.yml', 'ansible_ssh_common_args', 'except a lone `-o ProxyJump'],
  },
  { name: 'malformed ProxyJump', files: hostLine(`${H1} ansible_ssh_common_args='-o ProxyJump=me@:22'`), args: run(), says: ['host h1', 'ansible_ssh_common_args', 'ProxyJump "me@:22"'] },
  {
    name: 'malformed proxyJump (ours)',
    files: { 'inv/hosts': null, 'inv/hosts.yml': 'hosts:\n  h1: { address: 127.0.0.1, proxyJump: "x:y:z" }\ngroups:\n  app: { hosts: [h1] }\n' },
    args: run(),
    says: ['inv/hosts.yml: host h1: proxyJump: expected [user@]host[:port]'],
  },
  { name: 'unhonoured field for inventory too', files: hostLine(`${H1} ansible_ssh_extra_args=-C`), args: ['inventory', '-i', '{dir}/inv'], says: ['host h1', 'ansible_ssh_extra_args'] },
  // unreachable (exit 4), for contrast: the run goes as far as connecting
  { name: 'unreachable host', files: hostLine(H1.replace('{port}', '1')), args: run(), code: 4, says: [] },
];

const skip = sshdSkipReason();

describe('bad input is refused before any host is touched', () => {
  let sshd: TestSshd | undefined;
  let work: string;
  const log = () => (sshd ? readFileSync(join(sshd.dir, 'sshd.log'), 'utf8') : '');

  beforeAll(async () => {
    if (!skip) {
      sshd = await startSshd();
      // startSshd's readiness probe is a connection too: let its lines reach the log first.
      for (let i = 0; i < 40 && !/Connection closed/.test(log()); i++) await new Promise((d) => setTimeout(d, 50));
    }
    work = mkdtempSync(join(tmpdir(), 'rigger-bad-'));
  });
  afterAll(async () => {
    await sshd?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const dir = mkdtempSync(join(work, 'case-'));
    const fill = (s: string) =>
      s
        .replaceAll('{dir}', dir)
        .replaceAll('{port}', String(sshd?.port ?? 1))
        .replaceAll('{user}', sshd?.user ?? 'nobody')
        .replaceAll('{key}', sshd?.userKey ?? join(dir, 'no-key'))
        .replaceAll('{known}', sshd?.knownHosts ?? join(dir, 'known_hosts'))
        .replaceAll('{playbook}', PLAYBOOK);
    for (const [path, body] of Object.entries({ ...BASE, ...c.files })) {
      if (body === null) continue;
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), fill(body));
    }
    chmodSync(dir, 0o755);
    const env: Record<string, string> = { ...(process.env as Record<string, string>), CI: 'true', DEMO_PASSWORD: SECRET };
    for (const [k, v] of Object.entries(c.env ?? {})) {
      if (v === null) delete env[k];
      else env[k] = v;
    }
    const before = log().length;
    const r = await new Promise<{ code: number; stdout: string; stderr: string }>((done) =>
      execFile(process.execPath, [BIN, ...c.args.map(fill)], { env, timeout: 60_000 }, (err, stdout, stderr) =>
        done({ code: err ? (typeof err.code === 'number' ? err.code : 99) : 0, stdout, stderr }),
      ),
    );
    const expected = c.code ?? 1;
    expect(r.code, `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`).toBe(expected);
    const said = expected === 0 ? r.stdout + r.stderr : r.stderr;
    for (const w of c.says) {
      if (typeof w === 'string') expect(said).toContain(w);
      else expect(said).toMatch(w);
    }
    expect(r.stdout + r.stderr).not.toContain(SECRET);
    if (expected === 0 || expected === 1) {
      expect(r.stderr.trim().split('\n').length, r.stderr).toBeLessThan(20); // an error, not a stack trace
      expect(r.stderr).not.toMatch(/\n\s+at /);
      if (sshd) {
        await new Promise((d) => setTimeout(d, 100));
        expect(log().slice(before)).not.toMatch(/Connection from|Accepted|session opened/);
      }
    }
  });
});
