/**
 * Polling for integration tests that wait on another process (a database lock, a server):
 * deadline-based, never a fixed sleep standing in for "long enough".
 *
 * @module
 */

/**
 * Resolves once `check` returns true; rejects naming `what` when `timeoutMs` (default 10,000)
 * passes first. Checks every `stepMs` (default 5).
 */
export async function pollUntil(
  what: string,
  check: () => Promise<boolean>,
  options: { timeoutMs?: number; stepMs?: number } = {},
): Promise<void> {
  const deadline = performance.now() + (options.timeoutMs ?? 10_000);
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, options.stepMs ?? 5));
  }
}

/** `url` (a PostgreSQL connection URL) with `application_name` set, so a test can find its own sessions. */
export function withApplicationName(url: string, name: string): string {
  const u = new URL(url);
  u.searchParams.set('application_name', name);
  return u.toString();
}
