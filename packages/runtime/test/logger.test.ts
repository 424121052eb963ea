import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { describe, it } from 'node:test';

describe('process logger', () => {
  it('lets a process exit after the reader of its stdout has gone (a replica whose supervisor was killed)', async () => {
    const child = spawn(process.execPath, [join(import.meta.dirname, 'fixtures', 'log-after-reader-left.ts')], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    try {
      await once(child.stdout, 'data'); // its first line: it is ready
      child.stdout.destroy(); // the reader goes away
      await new Promise((r) => setImmediate(r));
      child.stdin.write('go\n');
      // A hang here is the failure: pino's asynchronous stdout retried the EPIPE write at exit forever.
      const watchdog = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const [code, signal] = await exited;
      clearTimeout(watchdog);
      assert.equal(signal, null, 'it exited by itself, not killed by the watchdog');
      assert.equal(code, 0);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });
});
