import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { describe, it } from 'node:test';

describe('process logger', () => {
  it('lets a process exit after the reader of its stdout has gone (a replica whose supervisor was killed)', async () => {
    const child = spawn(process.execPath, [join(import.meta.dirname, 'fixtures', 'log-after-reader-left.ts')], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    // What it prints on stderr (sonic-boom reports the broken pipe there as it gives up), shown only
    // when the test fails.
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    // A hang is the failure (sonic-boom 4 retried the broken-pipe write at exit forever): the
    // watchdog ends the child, and with it every wait below, whatever step it hangs in.
    const watchdog = setTimeout(() => child.kill('SIGKILL'), 10_000);
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    try {
      const first = await Promise.race([once(child.stdout, 'data').then(() => 'ready'), exited.then(() => 'exited')]);
      assert.equal(first, 'ready', `the fixture started and logged; stderr: ${stderr}`);
      child.stdout.destroy(); // the reader goes away
      await new Promise((r) => setImmediate(r));
      child.stdin.end('go\n');
      const [code, signal] = await exited;
      assert.equal(signal, null, `it exited by itself, not killed by the watchdog; stderr: ${stderr}`);
      assert.equal(code, 0, `stderr: ${stderr}`);
    } finally {
      clearTimeout(watchdog);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });
});
