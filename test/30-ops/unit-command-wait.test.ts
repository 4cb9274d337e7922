import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { command, waitFor } from '../../src/ops/index.ts';
import { Secret } from '../../src/core/secret.ts';
import { runCustom } from '../../src/engine/run-task.ts';
import { checkBody, waitScript } from '../../src/ops/wait-for.ts';
import { ShTransport, converge, convergeBatch, makeCtx } from './helpers.ts';

let dir: string;
let tcp: TcpServer;
let http: HttpServer;
let tcpPort = 0;
let httpPort = 0;
let closedPort = 0;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rigger-ops-cmd-'));
  tcp = createTcpServer((s) => s.end());
  await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
  tcpPort = (tcp.address() as AddressInfo).port;
  http = createHttpServer((req, res) => {
    res.statusCode = req.url === '/ready' ? 200 : 503;
    res.end();
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  httpPort = (http.address() as AddressInfo).port;
  // A port that was free a moment ago: nothing listens there.
  const tmp = createTcpServer();
  await new Promise<void>((r) => tmp.listen(0, '127.0.0.1', r));
  closedPort = (tmp.address() as AddressInfo).port;
  await new Promise<void>((r) => tmp.close(() => r()));
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await new Promise<void>((r) => tcp.close(() => r()));
  await new Promise<void>((r) => http.close(() => r()));
});

describe('command', () => {
  it('runs when no guard says otherwise, and does not run in check mode', async () => {
    const marker = join(dir, 'ran-1');
    const check = makeCtx(new ShTransport(), { check: true }).ctx;
    expect(await converge(check, command({ cmd: `touch ${marker}` }))).toMatchObject({ status: 'changed', summary: `run: touch ${marker}` });
    expect(existsSync(marker)).toBe(false);
    const { ctx } = makeCtx(new ShTransport());
    expect((await converge(ctx, command({ cmd: `touch ${marker}` }))).status).toBe('changed');
    expect(existsSync(marker)).toBe(true);
  });

  it('creates/removes/unless/onlyIf guards make it ok, with the reason', async () => {
    const { ctx } = makeCtx(new ShTransport());
    const there = join(dir, 'there');
    writeFileSync(there, '');
    const missing = join(dir, 'missing');
    const out = join(dir, 'guarded');
    const results = await convergeBatch(ctx, [
      command({ cmd: `echo 1 >> ${out}`, creates: there }),
      command({ cmd: `echo 2 >> ${out}`, removes: missing }),
      command({ cmd: `echo 3 >> ${out}`, unless: `test -e ${there}` }),
      command({ cmd: `echo 4 >> ${out}`, onlyIf: 'false' }),
      command({ cmd: `echo 5 >> ${out}`, onlyIf: 'true', unless: 'false', creates: missing, removes: there }),
    ]);
    expect(results.slice(0, 4)).toEqual([
      { status: 'ok', message: `not needed: ${there} exists` },
      { status: 'ok', message: `not needed: ${missing} does not exist` },
      { status: 'ok', message: 'not needed: `unless` check succeeded' },
      { status: 'ok', message: 'not needed: `onlyIf` check failed' },
    ]);
    expect(results[4]!.status).toBe('changed');
    expect(readFileSync(out, 'utf8')).toBe('5\n');
  });

  it('a guard with a syntax error does not break the other probes of the batch', async () => {
    const { ctx } = makeCtx(new ShTransport(), { check: true });
    const rs = await convergeBatch(ctx, [command({ cmd: 'true', unless: 'if then fi (' }), command({ cmd: 'true', onlyIf: 'false' })]);
    expect(rs[0]!.status).toBe('changed');
    expect(rs[1]).toMatchObject({ status: 'ok' });
  });

  it('feeds a Secret through stdin only', async () => {
    const t = new ShTransport();
    const { ctx } = makeCtx(t);
    const out = join(dir, 'stdin-out');
    const pw = new Secret('s3cr3t-value-xyz');
    expect((await converge(ctx, command({ cmd: `cat > ${out}`, stdin: pw }))).status).toBe('changed');
    expect(readFileSync(out, 'utf8')).toBe('s3cr3t-value-xyz');
    expect(t.scripts.join('\n')).not.toContain('s3cr3t');
  });

  it('fails with the exit code and the stderr tail', async () => {
    const { ctx } = makeCtx(new ShTransport());
    const r = await converge(ctx, command({ cmd: 'for i in 1 2 3 4 5 6 7 8 9 10 11 12; do echo "err $i" >&2; done; exit 3' }));
    expect(r.status).toBe('failed');
    if (r.status !== 'failed') return;
    expect(r.error).toMatch(/^command failed \(exit 3\): for i in/);
    expect(r.error).toContain('err 12');
    expect(r.error).not.toContain('err 2\n');
    expect(r.ignored).toBe(false);
    const soft = await converge(ctx, command({ cmd: 'exit 1', mayFail: true }));
    expect(soft).toMatchObject({ status: 'failed', ignored: true });
  });
});

describe('waitFor', () => {
  it('is a read-only RunTask that runs in check mode', async () => {
    const task = waitFor({ tcp: { host: '127.0.0.1', port: tcpPort }, timeoutMs: 5000 });
    expect(task).toMatchObject({ kind: 'run', inCheckMode: 'run', name: `wait for tcp 127.0.0.1:${tcpPort}` });
    const { ctx } = makeCtx(new ShTransport(), { check: true });
    const r = await runCustom(ctx, task);
    expect(r.status).toBe('ok');
    expect(r.status === 'ok' && r.message).toMatch(new RegExp(`^tcp 127.0.0.1:${tcpPort} ready after \\d+(\\.\\d)?s$`));
  });

  it('times out with one message: what, how long, last seen', async () => {
    const t = new ShTransport();
    const { ctx } = makeCtx(t);
    const r = await runCustom(ctx, waitFor({ tcp: { host: '127.0.0.1', port: closedPort }, timeoutMs: 1500, intervalMs: 300 }));
    expect(r.status).toBe('failed');
    if (r.status !== 'failed') return;
    expect(r.error).toMatch(new RegExp(`^timed out after 1.5s waiting for tcp 127.0.0.1:${closedPort}; last seen: .*refused`, 'i'));
    expect(r.error.split('\n')).toHaveLength(1);
    expect(t.stats.execs).toBe(1); // the loop ran on the host, in one exec
  });

  it('http: ready on the wanted status, and reports the last status on timeout', async () => {
    const { ctx } = makeCtx(new ShTransport());
    const ok = await runCustom(ctx, waitFor({ http: { url: `http://127.0.0.1:${httpPort}/ready` }, timeoutMs: 5000 }));
    expect(ok.status).toBe('ok');
    const bad = await runCustom(ctx, waitFor({ http: { url: `http://127.0.0.1:${httpPort}/down`, status: 200 }, timeoutMs: 1000, intervalMs: 250, what: 'patroni REST API' }));
    expect(bad.status === 'failed' && bad.error).toBe('timed out after 1s waiting for patroni REST API; last seen: HTTP 503');
  });

  it('http without curl falls back to python3', async () => {
    const spec = { http: { url: `http://127.0.0.1:${httpPort}/down` }, timeoutMs: 800, intervalMs: 200 };
    const body = checkBody({ ...spec });
    expect(body).toContain('python3');
    // Hide curl: run the loop with a PATH that has python3 but no curl.
    const t = new ShTransport();
    const r = await t.exec(`mkdir -p ${dir}/bin && ln -sf /usr/bin/python3 ${dir}/bin/python3 && for c in date sleep grep head tail timeout; do ln -sf "$(command -v $c)" ${dir}/bin/$c; done\nPATH=${dir}/bin\n${waitScript(spec)}`);
    expect(r.stdout).toMatch(/@@timeout \d+\n503\n|@@timeout \d+\nHTTP 503\n/);
  });

  it('command: waits for exit 0; last seen is the output and exit code', async () => {
    const { ctx } = makeCtx(new ShTransport());
    const flag = join(dir, 'flag');
    const later = new ShTransport().exec(`sleep 0.6; touch ${flag}`);
    const r = await runCustom(ctx, waitFor({ command: `test -e ${flag}`, timeoutMs: 10_000, intervalMs: 200 }));
    await later;
    expect(r.status).toBe('ok');
    const bad = await runCustom(ctx, waitFor({ command: 'echo "state: starting"; exit 4', timeoutMs: 600, intervalMs: 200 }));
    expect(bad.status === 'failed' && bad.error).toBe('timed out after 0.6s waiting for command: echo "state: starting"; exit 4; last seen: state: starting | (exit 4)');
  });

  it('rejects wrong targets when the task is built', () => {
    expect(() => waitFor({ tcp: { host: '127.0.0.1', port: 0 }, timeoutMs: 1000 })).toThrow(/waitFor/);
    expect(() => waitFor({ http: { url: 'ftp://x' }, timeoutMs: 1000 })).toThrow(/waitFor/);
  });
});
