/**
 * Trace helpers the roles call on their hot paths: spans, and W3C trace context in and out of
 * carriers (HTTP headers, event-log entry headers, an outbox command).
 *
 * Cost when tracing is off: every caller checks {@link tracingEnabled} (one boolean) before it
 * builds attributes or touches a context; the helpers themselves fall through at once. Only
 * sampled contexts are carried: a trace the sampler dropped costs its downstream nothing.
 *
 * @module
 */
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  context,
  propagation,
  trace,
  type Attributes,
  type Context,
  type Span,
  type Tracer,
} from '@opentelemetry/api';

export { SpanKind, type Context as TraceContext, type Span };

/** W3C trace context as text fields: `traceparent` (and `tracestate` when there is one). */
export type TraceCarrier = Readonly<Record<string, string>>;

let tracer: Tracer | undefined;

/** True once {@link setupTracing} registered an exporter: the one check hot paths make. */
export const tracingEnabled = (): boolean => tracer !== undefined;

/** Switches the helpers on with `t` (or off with `undefined`). Used by the tracing setup only. */
export function useTracer(t: Tracer | undefined): void {
  tracer = t;
}

/** Options of {@link startSpan} and {@link inSpan}. */
export interface SpanOptions {
  /** Parent span, or context holding one. @default the active context */
  readonly parent?: Context | Span | undefined;
  /** @default SpanKind.INTERNAL */
  readonly kind?: SpanKind;
  readonly attributes?: Attributes;
  /** Start time (`performance.now()` or epoch milliseconds), for a span recorded afterwards. */
  readonly startTime?: number;
}

/**
 * Starts a span (not made active). Call only when {@link tracingEnabled}; when it is not, the
 * span returned records nothing.
 */
export function startSpan(name: string, options: SpanOptions = {}): Span {
  const t = tracer ?? trace.getTracer('ballast');
  return t.startSpan(
    name,
    {
      kind: options.kind ?? SpanKind.INTERNAL,
      ...(options.attributes !== undefined ? { attributes: options.attributes } : {}),
      ...(options.startTime !== undefined ? { startTime: options.startTime } : {}),
    },
    contextOf(options.parent),
  );
}

const contextOf = (parent: Context | Span | undefined): Context =>
  parent === undefined
    ? context.active()
    : 'spanContext' in parent
      ? trace.setSpan(ROOT_CONTEXT, parent as Span)
      : (parent as Context);

/** Ends `span`, marking it failed with `err` when given. */
export function endSpan(span: Span, err?: unknown, endTime?: number): void {
  if (err !== undefined) {
    span.recordException(err instanceof Error ? err : String(err));
    span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
  }
  span.end(endTime);
}

/**
 * Runs `fn` inside a new active span, so spans and carriers made within (across `await`s) are
 * its children; ends it when `fn` settles. With tracing off, just calls `fn`.
 */
export async function inSpan<T>(
  name: string,
  options: SpanOptions,
  fn: (span: Span | undefined) => Promise<T> | T,
): Promise<T> {
  if (tracer === undefined) return fn(undefined);
  const span = startSpan(name, options);
  try {
    const out = await context.with(trace.setSpan(contextOf(options.parent), span), fn, undefined, span);
    span.end();
    return out;
  } catch (err) {
    endSpan(span, err);
    throw err;
  }
}

const isSampled = (ctx: Context): boolean => {
  const sc = trace.getSpanContext(ctx);
  return sc !== undefined && (sc.traceFlags & TraceFlags.SAMPLED) !== 0;
};

/** The active context if tracing is on and it holds a sampled span, else `undefined`. */
export function sampledContext(ctx: Context = context.active()): Context | undefined {
  return tracer !== undefined && isSampled(ctx) ? ctx : undefined;
}

/**
 * The W3C trace context of `of` (a span, a context, or the active context) as a carrier, or
 * `undefined` when tracing is off or that trace is not sampled.
 */
export function traceCarrier(of?: Span | Context): TraceCarrier | undefined {
  if (tracer === undefined) return undefined;
  const ctx = contextOf(of);
  if (!isSampled(ctx)) return undefined;
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier);
  return carrier.traceparent === undefined ? undefined : carrier;
}

/**
 * The context a carrier continues (HTTP request headers, entry headers), or `undefined` when
 * tracing is off, the carrier has no valid `traceparent`, or its trace is not sampled.
 */
export function contextFromCarrier(
  carrier: Readonly<Record<string, string | string[] | undefined>> | undefined,
): Context | undefined {
  if (tracer === undefined || carrier === undefined || carrier['traceparent'] === undefined) return undefined;
  const ctx = propagation.extract(ROOT_CONTEXT, carrier);
  return isSampled(ctx) ? ctx : undefined;
}
