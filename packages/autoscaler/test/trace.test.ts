import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  bundledFlashCrashEvents,
  generateCryptoTrace,
  hawkesOnsets,
  parseAlibabaQps,
  parseFlashCrashEvents,
  parseRateCsv,
  resampleToSeconds,
} from '@ballast/autoscaler';

const ALIBABA = `timestamp_anon,value,container_ip,request_type
1000.0,0.09,,API Requests
1000.0,0.09,aaa,Generative Requests
1000.0,0.09,bbb,Generative Requests
1057.0,0.27,aaa,Generative Requests
1114.0,0.09,aaa,Generative Requests
`;

const EVENTS = `asset,date,role,t_star,t_trough,t_rebound_end,h_star,drop,reb,reason,t_trough_ref,t_trough_final
BTCUSDT,2021-01-02 00:00:00+00:00,pos,2021-01-02 20:31:00+00:00,2021-01-02 21:00:00+00:00,2021-01-02 22:00:00+00:00,30,0.0637786142316773,0.826465259139399,,2021-01-02 21:00:20.951000+00:00,2021-01-02 21:00:20.951000+00:00
BTCUSDT,2021-01-17 00:00:00+00:00,quiet,2021-01-17 09:34:00+00:00,2021-01-17 10:02:00+00:00,2021-01-17 11:02:00+00:00,30,0.0269954856614778,1.3819304690411485,no minute meets per-horizon drop thresholds,2021-01-17 10:02:34.772000+00:00,2021-01-17 10:02:34.772000+00:00
`;

describe('traces', () => {
  it('sums the Alibaba generative QPS per timestamp, interpolates to 1 s and rescales the peak', () => {
    const t = parseAlibabaQps(ALIBABA, { peakOrdersPerS: 300 });
    assert.equal(t.ordersPerS.length, 115);
    assert.ok(Math.abs(t.ordersPerS[0]! - 200) < 1e-9); // 0.18 of a 0.27 peak
    assert.ok(Math.abs(t.ordersPerS[57]! - 300) < 1e-9);
    assert.ok(Math.abs(t.ordersPerS[114]! - 100) < 1e-9);
  });

  it('resamples irregular points linearly and reads a plain t_s,orders_per_s CSV', () => {
    assert.deepEqual(
      [
        ...resampleToSeconds([
          [0, 0],
          [4, 8],
        ]),
      ],
      [0, 2, 4, 6, 8],
    );
    const t = parseRateCsv('t_s,orders_per_s\n0,10\n2,30\n');
    assert.deepEqual([...t.ordersPerS], [10, 20, 30]);
    assert.throws(() => parseRateCsv('t_s,orders_per_s\n0,x\n'), { name: 'TraceFormatError' });
  });

  it('reads flash-crash events with their onset, trough and rebound times', () => {
    const [pos, quiet] = parseFlashCrashEvents(EVENTS);
    assert.equal(pos!.role, 'pos');
    assert.equal((pos!.troughMs - pos!.startMs) / 60_000, 29);
    assert.equal((pos!.reboundEndMs - pos!.troughMs) / 60_000, 60);
    assert.ok(Math.abs(pos!.drop - 0.0638) < 1e-4);
    assert.equal(quiet!.role, 'quiet');
  });

  it('bundles the MIT-licensed events file with 86 flash crashes', () => {
    assert.equal(bundledFlashCrashEvents().filter((e) => e.role === 'pos').length, 86);
  });
});

describe('synthetic crypto trace', () => {
  it('is deterministic for a seed', () => {
    const a = generateCryptoTrace({ seed: 5, durationS: 3600 });
    const b = generateCryptoTrace({ seed: 5, durationS: 3600 });
    assert.deepEqual(a, b);
    assert.notDeepEqual(a.ordersPerS, generateCryptoTrace({ seed: 6, durationS: 3600 }).ordersPerS);
  });

  it('shapes each burst like its flash crash: rising to the trough, then fading, with the peak from the drop', () => {
    const events = parseFlashCrashEvents(EVENTS);
    const t = generateCryptoTrace({
      seed: 1,
      durationS: 6 * 3600,
      burstsPerHour: 0.5,
      branchingRatio: 0,
      noiseSd: 0,
      dailyAmplitude: 0,
      events,
    });
    assert.ok(t.bursts!.length >= 1);
    const b = t.bursts![0]!;
    assert.equal(b.troughS - b.startS, 29 * 60);
    assert.ok(Math.abs(b.peakMultiplier - (1 + 40 * 0.0637786142316773)) < 1e-9);
    const at = (s: number): number => t.ordersPerS[s]!;
    assert.ok(at(b.startS + 60) > 400 * 1.5, 'the first cascade lands within a minute');
    assert.ok(at(b.troughS) > at(b.startS + 600), 'activity keeps rising until the trough');
    assert.ok(Math.abs(at(b.troughS) / 400 - b.peakMultiplier) < 0.05);
    assert.ok(at(b.troughS + 1800) < at(b.troughS), 'and fades during the rebound');
    assert.ok(t.volatility![b.startS + 10]! > 0);
  });

  it('Hawkes onsets cluster: a high branching ratio gives more bursts than the background alone', () => {
    let calm = 0;
    let excited = 0;
    for (let seed = 1; seed <= 20; seed++) {
      calm += hawkesOnsets(seed, 86_400, 1 / 7200, 0, 3600).length;
      excited += hawkesOnsets(seed, 86_400, 1 / 7200, 0.7, 3600).length;
    }
    assert.ok(excited > calm * 1.5, `${excited} vs ${calm}`);
  });
});
