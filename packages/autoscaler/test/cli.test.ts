import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createProgressBar, runAutoscaleCommand } from '@ballast/autoscaler';

/** A write-only stream that keeps what it is given. */
const sink = (isTTY = false) => {
  const chunks: string[] = [];
  const stream = { isTTY, write: (c: string) => (chunks.push(String(c)), true) } as unknown as NodeJS.WritableStream;
  return { stream, text: () => chunks.join('') };
};

const run = async (argv: string[], signal?: AbortSignal) => {
  const stdout = sink();
  const stderr = sink();
  const code = await runAutoscaleCommand(argv, {
    stdout: stdout.stream,
    stderr: stderr.stream,
    ...(signal ? { signal } : {}),
  });
  return { code, out: stdout.text(), err: stderr.text() };
};

describe('autoscale simulate command', () => {
  it('exits 2 naming the bad argument', async () => {
    assert.match((await run(['simulate', '--trace', 'synthetic', '--policy', 'nope'])).err, /--policy/);
    assert.equal((await run(['simulate', '--trace', 'synthetic', '--policy', 'nope'])).code, 2);
    const noTrace = await run(['simulate', '--policy', 'hpa']);
    assert.deepEqual([noTrace.code, /--trace/.test(noTrace.err)], [2, true]);
    const seed = await run(['simulate', '--trace', 'synthetic', '--policy', 'hpa', '--seed', '-1']);
    assert.deepEqual([seed.code, /--seed/.test(seed.err)], [2, true]);
    const unknown = await run(['simulate', '--trace', 'synthetic', '--policy', 'hpa', '--bogus']);
    assert.deepEqual([unknown.code, /--bogus/.test(unknown.err)], [2, true]);
    assert.equal((await run(['frobnicate'])).code, 2);
  });

  it('exits 1 when the trace file cannot be read', async () => {
    const r = await run(['simulate', '--trace', '/nonexistent/trace.csv', '--policy', 'hpa']);
    assert.equal(r.code, 1);
    assert.match(r.err, /nonexistent/);
  });

  it('simulates every policy, writes a self-contained HTML plot and prints JSON last', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'autoscale-'));
    try {
      const file = join(dir, 'plot.html');
      const r = await run(['simulate', '--trace', 'synthetic', '--policy', 'all', '--hours', '1', '--out', file]);
      assert.equal(r.code, 0);
      const last = JSON.parse(r.out.trim().split('\n').at(-1)!);
      assert.deepEqual(
        last.runs.map((x: any) => x.policy),
        ['hpa', 'kpa', 'ballast'],
      );
      const html = readFileSync(file, 'utf8');
      assert.match(html, /^<!doctype html>/);
      assert.equal((html.match(/<svg /g) ?? []).length, 9);
      assert.doesNotMatch(html, /<script|src=/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('exits 130 when aborted', async () => {
    const ac = new AbortController();
    ac.abort();
    assert.equal(
      (await run(['simulate', '--trace', 'synthetic', '--policy', 'hpa', '--hours', '1'], ac.signal)).code,
      130,
    );
  });
});

describe('progress bar', () => {
  it('draws nothing when the stream is not a TTY', () => {
    const s = sink(false);
    const bar = createProgressBar(s.stream, 10, 'sweep');
    bar.update(5);
    bar.done();
    assert.equal(s.text(), '');
  });

  it('draws a bar with counts on a TTY', () => {
    const tty = sink(true);
    let t = 0;
    const bar = createProgressBar(tty.stream, 4, 'sweep', { width: 4, now: () => (t += 1000) });
    bar.update(2);
    bar.done();
    const all = tty.text();
    assert.match(all, /sweep \[##--\] 2\/4 50%/);
    assert.match(all, /\[####\] 4\/4 100%/);
  });
});
