import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { releasePidFile, takePidFile } from '@ballast/runtime';

describe('pid file', () => {
  const folder = () => mkdtempSync(join(tmpdir(), 'ballast-pid-'));

  it('is taken once: a live holder is reported by its pid', async () => {
    const dir = folder();
    const path = join(dir, 'x.pid');
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' });
    try {
      writeFileSync(path, String(other.pid));
      assert.equal(takePidFile(path), other.pid);
      assert.equal(readFileSync(path, 'utf8'), String(other.pid));
    } finally {
      other.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('replaces a stale file whose process is gone, and removes it on release', async () => {
    const dir = folder();
    const path = join(dir, 'x.pid');
    const gone = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
    await new Promise((r) => gone.on('exit', r));
    try {
      writeFileSync(path, String(gone.pid));
      assert.equal(takePidFile(path), undefined);
      assert.equal(readFileSync(path, 'utf8'), String(process.pid));
      releasePidFile(path);
      assert.equal(existsSync(path), false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
