/**
 * Distributed tracing setup (OpenTelemetry): one tracer provider per process, exporting over
 * OTLP/HTTP (JSON) in batches, sampling new traces by ratio and following the caller's decision
 * for continued ones (parent-based), W3C trace context as the propagator and AsyncLocalStorage as
 * the context manager.
 *
 * With no endpoint (and no exporter) nothing is registered and the SDK is not even loaded: the
 * helpers of `trace-context.ts` stay off and cost their callers one boolean check.
 *
 * @module
 */
import { context, propagation, trace } from '@opentelemetry/api';
import type { SpanExporter } from '@opentelemetry/sdk-trace';
import { tracingEnabled, useTracer } from './trace-context.ts';

/** Options of {@link setupTracing}. */
export interface TracingOptions {
  /** `service.name` of this process's spans, e.g. `ballast-gateway`. */
  readonly serviceName: string;
  /**
   * OTLP/HTTP endpoint: a base URL (`http://collector:4318`, `/v1/traces` is appended) or the
   * full traces URL. Empty or absent with no `exporter`: tracing stays off.
   */
  readonly otlpEndpoint?: string;
  /** Fraction of new traces recorded, 0..1; continued traces follow their caller. @default 1 */
  readonly sampleRatio?: number;
  /** Export here instead of OTLP (tests pass an `InMemorySpanExporter`). */
  readonly exporter?: SpanExporter;
  /** Longest a finished span waits in the batch before export. @default 1000 */
  readonly exportDelayMs?: number;
  /** Further resource attributes, e.g. `service.instance.id`. */
  readonly attributes?: Readonly<Record<string, string>>;
}

/** The tracing of this process. */
export interface Tracing {
  /** False when no endpoint was configured (every method is then a no-op). */
  readonly enabled: boolean;
  /** Exports every finished span now. */
  flush(): Promise<void>;
  /** Exports what is left and switches tracing off (a drain step). Idempotent. */
  shutdown(): Promise<void>;
}

const OFF: Tracing = { enabled: false, flush: async () => undefined, shutdown: async () => undefined };

/** The OTLP traces URL of an endpoint: a base URL gets `/v1/traces`. */
export function otlpTracesUrl(endpoint: string): string {
  const u = new URL(endpoint);
  if (!u.pathname.endsWith('/v1/traces')) u.pathname = `${u.pathname.replace(/\/+$/, '')}/v1/traces`;
  return u.toString();
}

/**
 * Sets up tracing for this process when an endpoint (or exporter) is given; otherwise returns a
 * disabled {@link Tracing} without loading the SDK.
 *
 * @throws Error when tracing is already set up in this process.
 */
export async function setupTracing(options: TracingOptions): Promise<Tracing> {
  const endpoint = options.otlpEndpoint ?? '';
  if (endpoint === '' && options.exporter === undefined) return OFF;
  if (tracingEnabled()) throw new Error('tracing is already set up in this process');
  const ratio = options.sampleRatio ?? 1;
  if (!(ratio >= 0 && ratio <= 1)) throw new RangeError(`sample ratio ${ratio} is not within 0..1`);
  const [sdk, { resourceFromAttributes }, { AsyncLocalStorageContextManager }, { W3CTraceContextPropagator }] =
    await Promise.all([
      import('@opentelemetry/sdk-trace'),
      import('@opentelemetry/resources'),
      import('@opentelemetry/context-async-hooks'),
      import('@opentelemetry/core'),
    ]);
  let exporter = options.exporter;
  if (exporter === undefined) {
    const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
    exporter = new OTLPTraceExporter({ url: otlpTracesUrl(endpoint), timeoutMillis: 5000 });
  }
  const provider = new sdk.TracerProvider({
    resource: resourceFromAttributes({ 'service.name': options.serviceName, ...options.attributes }),
    sampler: new sdk.ParentBasedSampler({ root: new sdk.TraceIdRatioBasedSampler(ratio) }),
    spanProcessors: [
      new sdk.BatchSpanProcessor({
        exporter,
        scheduledDelayMillis: options.exportDelayMs ?? 1000,
        maxQueueSize: 8192,
        maxExportBatchSize: 512,
      }),
    ],
  });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  useTracer(provider.getTracer('ballast'));
  let closed: Promise<void> | undefined;
  return {
    enabled: true,
    flush: () => provider.forceFlush(),
    shutdown: () =>
      (closed ??= (async () => {
        try {
          await provider.shutdown();
        } finally {
          useTracer(undefined);
          trace.disable();
          propagation.disable();
          context.disable();
        }
      })()),
  };
}
