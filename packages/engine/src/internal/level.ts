/**
 * One price level: a FIFO of orders as an intrusive doubly-linked list, with its total open
 * quantity kept up to date. Append, unlink and head are O(1).
 *
 * @module
 */
import type { Order } from './order.ts';

/** A price (or trigger price) level. */
export class Level {
  readonly priceTicks: number;
  /** Sum of the open lots of its orders. */
  qtyLots = 0;
  /** Number of orders. */
  count = 0;
  head: Order | null = null;
  tail: Order | null = null;

  constructor(priceTicks: number) {
    this.priceTicks = priceTicks;
  }

  /** Adds `order` at the back of the queue (lowest time priority). */
  append(order: Order): void {
    order.level = this;
    order.prev = this.tail;
    order.next = null;
    if (this.tail === null) this.head = order;
    else this.tail.next = order;
    this.tail = order;
    this.qtyLots += order.openLots;
    this.count++;
  }

  /** Removes `order` from the queue in O(1), subtracting its open lots from the total. */
  unlink(order: Order): void {
    const prev = order.prev;
    const next = order.next;
    if (prev === null) this.head = next;
    else prev.next = next;
    if (next === null) this.tail = prev;
    else next.prev = prev;
    order.prev = null;
    order.next = null;
    order.level = null;
    this.qtyLots -= order.openLots;
    this.count--;
  }
}
