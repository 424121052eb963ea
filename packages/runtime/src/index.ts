/**
 * `@ballast/runtime`: what every role's process uses — settings, logging, lifecycle and drain,
 * health and metrics, distributed tracing.
 *
 * @module
 */
export {
  intIn,
  loadSettings,
  nonEmpty,
  oneOf,
  parseBool,
  settingsHelp,
  type SettingSpec,
  type SettingsOf,
  type SettingsSpec,
} from './settings.ts';
export { releasePidFile, takePidFile } from './pid-file.ts';
export { createLogger, type Logger, type LoggerOptions } from './logger.ts';
export { LifecycleState, createLifecycle, type DrainStep, type Lifecycle, type LifecycleOptions } from './lifecycle.ts';
export { createMetrics, type BallastMetrics } from './metrics.ts';
export { registerObservability, type ReadinessCheck } from './http-observability.ts';
export { closedBeforeAnswer } from './closed-before-answer.ts';
export { bindResilienceMetrics } from './resilience-metrics.ts';
export { otlpTracesUrl, setupTracing, type Tracing, type TracingOptions } from './tracing.ts';
export {
  SpanKind,
  contextFromCarrier,
  endSpan,
  inSpan,
  sampledContext,
  startSpan,
  traceCarrier,
  tracingEnabled,
  type Span,
  type SpanOptions,
  type TraceCarrier,
  type TraceContext,
} from './trace-context.ts';
