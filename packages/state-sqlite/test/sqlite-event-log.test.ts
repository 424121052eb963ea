import { eventLogConformance } from '@ballast/state/conformance';
import { createSqliteEventLog, openSqlite } from '@ballast/state-sqlite';

eventLogConformance('sqlite (in memory)', async () => {
  const db = openSqlite({ path: ':memory:' });
  return { subject: await createSqliteEventLog(db), close: () => db.destroy() };
});
