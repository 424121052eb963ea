/**
 * Leading-indicator models on a rate (orders/s, trades/s): Holt's linear trend (double
 * exponential smoothing, with irregular sample spacing) and a burst detector (short vs long EWMA).
 * Both take explicit timestamps, so a simulator and a live recommender drive them the same way.
 *
 * @module
 */

/** Options of {@link HoltForecaster}. */
export interface HoltOptions {
  /** Level smoothing per sample, in (0, 1]. @default 0.3 */
  readonly alpha?: number;
  /** Trend smoothing per sample, in (0, 1]. @default 0.05 */
  readonly beta?: number;
}

/** Holt's linear trend: `forecast(h) = level + trend × h`, trend in units per second. */
export class HoltForecaster {
  readonly #alpha: number;
  readonly #beta: number;
  #level = 0;
  #trendPerS = 0;
  #lastMs = -1;

  constructor(options: HoltOptions = {}) {
    this.#alpha = options.alpha ?? 0.3;
    this.#beta = options.beta ?? 0.05;
  }

  /** Smoothed level (units). */
  get level(): number {
    return this.#level;
  }

  /** Smoothed trend (units per second). */
  get trendPerS(): number {
    return this.#trendPerS;
  }

  /** True once at least one sample was seen. */
  get primed(): boolean {
    return this.#lastMs >= 0;
  }

  /** Adds the sample `value` observed at `nowMs`. */
  update(nowMs: number, value: number): void {
    if (this.#lastMs < 0) {
      this.#level = value;
      this.#lastMs = nowMs;
      return;
    }
    const dtS = (nowMs - this.#lastMs) / 1000;
    if (dtS <= 0) return;
    const prev = this.#level;
    this.#level = this.#alpha * value + (1 - this.#alpha) * (prev + this.#trendPerS * dtS);
    this.#trendPerS = this.#beta * ((this.#level - prev) / dtS) + (1 - this.#beta) * this.#trendPerS;
    this.#lastMs = nowMs;
  }

  /** Forecast `horizonS` seconds after the last sample (never below 0). */
  forecast(horizonS: number): number {
    return Math.max(0, this.#level + this.#trendPerS * horizonS);
  }
}

/** Options of {@link BurstDetector}. */
export interface BurstDetectorOptions {
  /** Time constant of the short average, seconds. @default 10 */
  readonly shortS?: number;
  /** Time constant of the long (baseline) average, seconds. @default 600 */
  readonly longS?: number;
  /** Enter a burst when short/long reaches this. @default 1.5 */
  readonly enterRatio?: number;
  /** Leave when short/long stays below this for `calmS`. @default 1.15 */
  readonly exitRatio?: number;
  /** @default 120 */
  readonly calmS?: number;
  /** A burst longer than this is a new level: the baseline is reset. @default 1800 */
  readonly maxBurstS?: number;
}

/** Detects a sudden rise of a rate above its own recent baseline. */
export class BurstDetector {
  readonly #shortS: number;
  readonly #longS: number;
  readonly #enter: number;
  readonly #exit: number;
  readonly #calmMs: number;
  readonly #maxBurstMs: number;
  #short = 0;
  #long = 0;
  #lastMs = -1;
  #inBurst = false;
  #calmSinceMs = -1;
  #burstStartMs = -1;
  #baselineAtStart = 0;

  constructor(options: BurstDetectorOptions = {}) {
    this.#shortS = options.shortS ?? 10;
    this.#longS = options.longS ?? 600;
    this.#enter = options.enterRatio ?? 1.5;
    this.#exit = options.exitRatio ?? 1.15;
    this.#calmMs = (options.calmS ?? 120) * 1000;
    this.#maxBurstMs = (options.maxBurstS ?? 1800) * 1000;
  }

  /** True while a burst is in progress. */
  get inBurst(): boolean {
    return this.#inBurst;
  }

  /** Short-average / baseline ratio (1 when flat). */
  get ratio(): number {
    return this.#long > 0 ? this.#short / this.#long : 1;
  }

  /** The baseline when the current burst started (units), or the current baseline. */
  get baseline(): number {
    return this.#inBurst ? this.#baselineAtStart : this.#long;
  }

  /** When the current burst started (ms), or -1. */
  get burstStartMs(): number {
    return this.#burstStartMs;
  }

  /** Adds the sample `value` at `nowMs`; returns {@link BurstDetector.inBurst}. */
  update(nowMs: number, value: number): boolean {
    if (this.#lastMs < 0) {
      this.#short = value;
      this.#long = value;
      this.#lastMs = nowMs;
      return false;
    }
    const dtS = (nowMs - this.#lastMs) / 1000;
    if (dtS <= 0) return this.#inBurst;
    this.#lastMs = nowMs;
    this.#short += (1 - Math.exp(-dtS / this.#shortS)) * (value - this.#short);
    // The baseline does not learn from the burst itself.
    if (!this.#inBurst) this.#long += (1 - Math.exp(-dtS / this.#longS)) * (value - this.#long);
    const ratio = this.ratio;
    if (!this.#inBurst && ratio >= this.#enter) {
      this.#inBurst = true;
      this.#burstStartMs = nowMs;
      this.#baselineAtStart = this.#long;
      this.#calmSinceMs = -1;
    } else if (this.#inBurst) {
      const r = this.#baselineAtStart > 0 ? this.#short / this.#baselineAtStart : 1;
      if (nowMs - this.#burstStartMs >= this.#maxBurstMs) {
        this.#inBurst = false;
        this.#burstStartMs = -1;
        this.#long = this.#short;
      } else if (r < this.#exit) {
        if (this.#calmSinceMs < 0) this.#calmSinceMs = nowMs;
        if (nowMs - this.#calmSinceMs >= this.#calmMs) {
          this.#inBurst = false;
          this.#burstStartMs = -1;
          this.#long = this.#short;
        }
      } else this.#calmSinceMs = -1;
    }
    return this.#inBurst;
  }
}

/** Options of {@link SwingEstimator}. */
export interface SwingEstimatorOptions {
  /** Time constant of the level and of the variance, seconds. @default 600 */
  readonly windowS?: number;
}

/**
 * Variance-aware headroom for a rate that swings around a slowly moving level: an EWMA level and an
 * EWMA of the squared log-deviation from it, so `upper(z) = level × exp(z × σ)` is a high quantile
 * of the recent load (log-normal swings), not its mean. Samples ≤ 0 are ignored.
 */
export class SwingEstimator {
  readonly #windowS: number;
  #level = -1;
  #var = 0;
  #lastMs = -1;

  constructor(options: SwingEstimatorOptions = {}) {
    this.#windowS = options.windowS ?? 600;
  }

  /** Smoothed level (units), or 0 before the first sample. */
  get level(): number {
    return Math.max(0, this.#level);
  }

  /** Standard deviation of the log-deviation from the level. */
  get sigma(): number {
    return Math.sqrt(this.#var);
  }

  /** Adds the sample `value` observed at `nowMs`. */
  update(nowMs: number, value: number): void {
    if (!(value > 0)) return;
    if (this.#level < 0) {
      this.#level = value;
      this.#lastMs = nowMs;
      return;
    }
    const dtS = (nowMs - this.#lastMs) / 1000;
    if (dtS <= 0) return;
    this.#lastMs = nowMs;
    const w = 1 - Math.exp(-dtS / this.#windowS);
    const d = Math.log(value / this.#level);
    this.#var += w * (d * d - this.#var);
    this.#level += w * (value - this.#level);
  }

  /** `level × exp(z × σ)`. */
  upper(z: number): number {
    return this.level * Math.exp(z * this.sigma);
  }
}

/** Options of {@link LinearTrend}. */
export interface LinearTrendOptions {
  /** Fit the samples of the last this many seconds. @default 15 */
  readonly windowS?: number;
  /**
   * Treat a slope within this many standard errors of 0 (from the fit's residuals) as 0, so noise
   * alone does not read as a ramp. 0 = always the plain least-squares slope. @default 0
   */
  readonly slopeZ?: number;
}

/**
 * Local linear trend: an ordinary least-squares line through the samples of the last `windowS`
 * seconds, so `forecast(h)` follows a ramp within a few samples of its start — where Holt's
 * smoothed trend needs tens of samples — at the price of more noise. Irregular spacing is fine.
 */
export class LinearTrend {
  readonly #windowMs: number;
  readonly #slopeZ: number;
  readonly #samples: { atMs: number; value: number }[] = [];

  constructor(options: LinearTrendOptions = {}) {
    this.#windowMs = (options.windowS ?? 15) * 1000;
    this.#slopeZ = options.slopeZ ?? 0;
  }

  /** Adds the sample `value` observed at `nowMs`; samples older than the window are dropped. */
  update(nowMs: number, value: number): void {
    const last = this.#samples.at(-1);
    if (last !== undefined && nowMs <= last.atMs) return;
    this.#samples.push({ atMs: nowMs, value });
    while (this.#samples[0]!.atMs < nowMs - this.#windowMs) this.#samples.shift();
  }

  /** Slope of the fitted line, units per second (0 with fewer than two samples). */
  get trendPerS(): number {
    return this.#fit().slopePerS;
  }

  /** The fitted value `horizonS` seconds after the last sample (never below 0). */
  forecast(horizonS: number): number {
    const { atLast, slopePerS } = this.#fit();
    return Math.max(0, atLast + slopePerS * horizonS);
  }

  #fit(): { atLast: number; slopePerS: number } {
    const n = this.#samples.length;
    if (n === 0) return { atLast: 0, slopePerS: 0 };
    const t0 = this.#samples[0]!.atMs;
    let mt = 0;
    let mv = 0;
    for (const s of this.#samples) {
      mt += (s.atMs - t0) / 1000;
      mv += s.value;
    }
    mt /= n;
    mv /= n;
    let sxy = 0;
    let sxx = 0;
    for (const s of this.#samples) {
      const dt = (s.atMs - t0) / 1000 - mt;
      sxy += dt * (s.value - mv);
      sxx += dt * dt;
    }
    const raw = sxx > 0 ? sxy / sxx : 0;
    const lastT = (this.#samples[n - 1]!.atMs - t0) / 1000;
    const atLast = mv + raw * (lastT - mt);
    if (this.#slopeZ > 0 && n > 2) {
      let sse = 0;
      for (const s of this.#samples) {
        const r = s.value - (mv + raw * ((s.atMs - t0) / 1000 - mt));
        sse += r * r;
      }
      const se = Math.sqrt(sse / (n - 2) / sxx);
      // A slope within its noise is no slope: the level is then the mean, not the fitted end.
      if (Math.abs(raw) <= this.#slopeZ * se) return { atLast: mv, slopePerS: 0 };
    }
    return { atLast, slopePerS: raw };
  }
}
