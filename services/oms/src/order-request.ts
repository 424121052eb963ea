/**
 * What the oms accepts: an order already parsed into integers by the gateway, and the domain
 * outcomes it returns (never throws for them).
 *
 * @module
 */

/** STP modes at the oms boundary (engine names). */
export type StpModeName = 'none' | 'expireTaker' | 'expireMaker' | 'expireBoth' | 'decrementCancel';

/** A new order, in integers. Exactly the fields its type needs are set. */
export interface PlaceOrderInput {
  readonly accountId: bigint;
  readonly symbol: string;
  readonly clientOrderId: string;
  readonly side: 'buy' | 'sell';
  readonly type: 'limit' | 'market' | 'stopLimit' | 'stopMarket';
  /** Binance-style name kept for history (`LIMIT`, `LIMIT_MAKER`, `MARKET`, `STOP_LOSS`, `STOP_LOSS_LIMIT`). */
  readonly apiType: string;
  readonly tif: 'GTC' | 'IOC' | 'FOK';
  readonly postOnly: boolean;
  readonly priceTicks?: bigint;
  readonly qtyLots?: bigint;
  /** Quote amount in minor units (market orders by quote). */
  readonly quoteQtyMinor?: bigint;
  readonly stopPriceTicks?: bigint;
  readonly stp: StpModeName;
}

/** Why an order was not accepted. */
export type PlaceRejection =
  | { readonly _tag: 'UnknownSymbol'; readonly message: string }
  | { readonly _tag: 'FilterFailure'; readonly filter: string; readonly message: string }
  | { readonly _tag: 'InsufficientFunds'; readonly message: string };

/** An order row as the oms returns it. */
export interface OrderRecord {
  readonly id: bigint;
  readonly accountId: bigint;
  readonly symbol: string;
  readonly clientOrderId: string;
  readonly side: 'buy' | 'sell';
  readonly type: string;
  readonly tif: string;
  readonly priceTicks: bigint;
  readonly qtyLots: bigint;
  readonly quoteQtyMinor: bigint;
  readonly stopPriceTicks: bigint;
  readonly stp: string;
  readonly status: string;
  readonly executedLots: bigint;
  readonly cumQuoteMinor: bigint;
  readonly createdMs: number;
  readonly updatedMs: number;
}

/** The outcome of a place. */
export type PlaceResult =
  | {
      readonly ok: true;
      readonly order: OrderRecord;
      readonly duplicate: boolean;
      /** Position of the place command in the symbol's command log, when it was appended inline. */
      readonly cmdSeq?: number;
      /** Its index in that entry, when the entry holds several commands (an oms batch). */
      readonly cmdPart?: number;
    }
  | { readonly ok: false; readonly reason: PlaceRejection };

/** The outcome of a cancel request (the cancel itself is applied by matching). */
export type CancelResult =
  | {
      readonly ok: true;
      readonly order: OrderRecord;
      /** Position of the cancel command in the symbol's command log. */
      readonly cmdSeq: number;
      /** Its index in that entry, when the entry holds several commands (cancels sent together). */
      readonly cmdPart?: number;
    }
  | { readonly ok: false; readonly reason: { readonly _tag: 'NoSuchOrder' | 'AlreadyDone'; readonly message: string } };
