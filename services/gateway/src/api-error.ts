/**
 * Binance-shaped API errors: `{ code, msg }` with the HTTP status, and the codes Ballast uses.
 * The same table is documented in docs/errors.md.
 *
 * @module
 */

/** API error codes (Binance's where one fits; Ballast's own in -1090..-1099). */
export const ApiCode = {
  Unknown: -1000,
  Disconnected: -1001,
  /**
   * Binance's TIMEOUT: the request was sent to the backend and no answer came back; it may or may
   * not have been carried out (HTTP 503, with `Retry-After` as every 503).
   */
  OutcomeUnknown: -1007,
  TooManyRequests: -1003,
  TooManyOrders: -1015,
  FilterFailure: -1013,
  UnsupportedOperation: -1014,
  IllegalChars: -1100,
  MandatoryParam: -1102,
  UnknownParam: -1104,
  ParamEmpty: -1105,
  BadPrecision: -1111,
  InvalidTimeInForce: -1115,
  InvalidOrderType: -1116,
  InvalidSide: -1117,
  BadSymbol: -1121,
  InvalidInterval: -1120,
  InvalidParameter: -1130,
  NewOrderRejected: -2010,
  CancelRejected: -2011,
  NoSuchOrder: -2013,
  BadApiKeyFormat: -2014,
  RejectedApiKey: -2015,
  /** Ballast: route not found. */
  NotFound: -1097,
  /** Ballast: body is not valid JSON / form data. */
  MalformedBody: -1098,
  /** Ballast: body larger than the limit. */
  PayloadTooLarge: -1099,
  /** Ballast: a dependency is unavailable; retry after `Retry-After`. */
  ServiceUnavailable: -1090,
  /** Ballast: the client closed its connection before its order was sent (HTTP 499; reaches no one, recorded in metrics). */
  ClientClosed: -1096,
} as const;

/** An error the API answers with `{ code, msg }`. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: number;
  readonly retryAfterS: number | undefined;
  /** `cause`: the failure behind it, for the log (503s are logged with it). */
  constructor(status: number, code: number, msg: string, retryAfterS?: number, cause?: unknown) {
    super(msg, cause === undefined ? undefined : { cause });
    this.status = status;
    this.code = code;
    this.retryAfterS = retryAfterS;
  }
}

/** Binance's -1007 text: the backend got the request, or may have, and never answered. */
export const OUTCOME_UNKNOWN_MSG =
  'Timeout waiting for response from backend server. Send status unknown; execution status unknown.';

/** 400 with `code` and `msg`. */
export const badRequest = (code: number, msg: string): ApiError => new ApiError(400, code, msg);
/** A mandatory parameter is missing or malformed. */
export const mandatory = (name: string): ApiError =>
  badRequest(ApiCode.MandatoryParam, `Mandatory parameter '${name}' was not sent, was empty/null, or malformed.`);
