import { createMemoryKeyValue } from '@ballast/state';
import { keyValueConformance } from '@ballast/state/conformance';

let now = 1_000_000;
keyValueConformance(
  'in-process',
  async () => ({ subject: createMemoryKeyValue({ nowMs: () => now }) }),
  async (ms) => {
    now += ms;
  },
);
