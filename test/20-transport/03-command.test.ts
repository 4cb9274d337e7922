/** How scripts become command lines (sh -c, sudo -n, timeout, large scripts) and sudo refusals. */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { MAX_INLINE_SCRIPT, invocation, scriptHead, sudoRefusal } from '../../src/transport/command.ts';
import { Secret } from '../../src/core/secret.ts';

describe('invocation', () => {
  it('quotes the script as one POSIX sh word', () => {
    const script = `echo 'it'"s" $HOME \\ end`;
    const inv = invocation(script, false, undefined);
    expect(inv.argv).toEqual(['sh', '-c', script]);
    // the line, run by a real sh, hands the script through unchanged
    expect(execFileSync('sh', ['-c', inv.line.replace(/^sh -c /, 'printf %s ')], { encoding: 'utf8' })).toBe(script);
  });

  it('adds sudo -n for become and timeout -s KILL (a second later) for a deadline', () => {
    expect(invocation('id', true, undefined).argv).toEqual(['sudo', '-n', 'sh', '-c', 'id']);
    expect(invocation('id', true, undefined, 2500).line).toBe("sudo -n timeout -s KILL 4 sh -c 'id'");
    expect(invocation('id', false, 'in', 100).argv).toEqual(['timeout', '-s', 'KILL', '2', 'sh', '-c', 'id']);
    expect(invocation('id', false, 'in').stdin).toBe('in');
  });

  it('sends a script too large for a command line through stdin, or refuses when stdin is taken', () => {
    const big = `: ${'x'.repeat(MAX_INLINE_SCRIPT)}`;
    const inv = invocation(big, true, undefined);
    expect(inv.argv).toEqual(['sudo', '-n', 'sh', '-s']);
    expect(inv.stdin).toBe(big);
    expect(() => invocation(big, false, 'data')).toThrow(/too large/);
  });
});

describe('sudoRefusal', () => {
  it('recognises sudo asking for a password or refusing the user', () => {
    expect(sudoRefusal(1, '', 'sudo: a password is required\n')).toBe('sudo: a password is required');
    expect(sudoRefusal(1, '', 'bob is not in the sudoers file.  This incident will be reported.\n')).toMatch(/sudoers/);
    expect(sudoRefusal(1, '', 'sudo: a terminal is required to read the password; either use the -S option\n')).not.toBeNull();
    // sshd and login shells may print first
    expect(sudoRefusal(1, '', 'Could not chdir to home directory /home/x: No such file or directory\nsudo: a password is required\n')).toBe(
      'sudo: a password is required',
    );
  });

  it('leaves ordinary failures alone', () => {
    expect(sudoRefusal(1, '', 'grep: x: No such file or directory\n')).toBeNull();
    expect(sudoRefusal(0, '', 'sudo: a password is required\n')).toBeNull();
    expect(sudoRefusal(1, 'out', 'sudo: a password is required\n')).toBeNull();
    // the script itself complained last: not sudo's refusal
    expect(sudoRefusal(1, '', 'sudo: a password is required\nmy script failed\n')).toBeNull();
  });
});

describe('scriptHead', () => {
  it('keeps the first line, shortened and redacted', () => {
    new Secret('s3cr3t-token-value');
    expect(scriptHead('\n  curl -H s3cr3t-token-value x\nsecond line')).toBe('curl -H ******** x');
    expect(scriptHead('y'.repeat(300))).toHaveLength(103);
  });
});
