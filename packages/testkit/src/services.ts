/**
 * Real-service gates for integration tests: a test that needs PostgreSQL, Redis or NATS runs
 * when the service answers, is skipped (with the reason) when it does not — and fails instead
 * when `BALLAST_REQUIRE_SERVICES=1` (CI), so a missing service can never pass silently.
 *
 * @module
 */
import { connect as tcp } from 'node:net';

/** Where the integration tests find each service. */
export const SERVICES = {
  postgres: { host: '127.0.0.1', port: 5432, url: 'postgres://postgres@127.0.0.1:5432/test' },
  redis: { host: '127.0.0.1', port: 6379, url: 'redis://127.0.0.1:6379' },
  nats: { host: '127.0.0.1', port: 4222, url: 'nats://127.0.0.1:4222' },
} as const;

const answers = (host: string, port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const s = tcp({ host, port });
    const done = (ok: boolean): void => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(1000, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });

/**
 * `undefined` when `service` answers (run the tests); otherwise a skip reason.
 *
 * @throws Error when it does not answer and `BALLAST_REQUIRE_SERVICES=1`.
 */
export async function skipUnlessService(service: keyof typeof SERVICES): Promise<string | undefined> {
  const { host, port } = SERVICES[service];
  if (await answers(host, port)) return undefined;
  const why = `${service} is not answering on ${host}:${port}`;
  if (process.env['BALLAST_REQUIRE_SERVICES'] === '1') throw new Error(`${why}, and BALLAST_REQUIRE_SERVICES=1`);
  return why;
}
