// Work waiting its turn, queued per caller and taken round-robin: the first caller's oldest item, then the next
// caller's, and so on; within a caller, its connections take turns the same way. So one caller's burst costs any other
// caller at most one item per turn, and one of a caller's connections cannot starve its others. What one caller may
// hold is bounded (items and bytes): beyond it, add() refuses. No I/O here (src/bus/fair-dispatch.ts feeds it).

export interface QueueBounds {
  /** Items one caller may have waiting. */
  maxItems: number;
  /** Bytes one caller's waiting items may add up to (as the adder estimates them). */
  maxBytes: number;
}

interface Waiting<T> {
  item: T;
  bytes: number;
}

interface Lane<T> {
  /** Each connection's items, oldest first; the map's order is the connections' turn order. */
  connections: Map<string, Waiting<T>[]>;
  items: number;
  bytes: number;
}

export class FairQueue<K, T> {
  /** The map's order is the callers' turn order: the first is next, a served caller with more goes to the back. */
  private readonly lanes = new Map<K, Lane<T>>();
  private readonly callerOf = new Map<string, K>();
  private count = 0;

  constructor(private readonly bounds: QueueBounds) {}

  /** Items waiting, all callers together. */
  get size(): number {
    return this.count;
  }

  /** Queue `item` from `connection` of `caller`; false (and nothing queued) when it would exceed the caller's bounds. */
  add(caller: K, connection: string, item: T, bytes: number): boolean {
    const known = this.callerOf.get(connection);
    if (known !== undefined && known !== caller) throw new Error(`connection ${connection} belongs to another caller`);
    let lane = this.lanes.get(caller);
    const items = (lane?.items ?? 0) + 1;
    const total = (lane?.bytes ?? 0) + bytes;
    if (items > this.bounds.maxItems || total > this.bounds.maxBytes) return false;
    if (!lane) {
      lane = { connections: new Map(), items: 0, bytes: 0 };
      this.lanes.set(caller, lane);
    }
    let waiting = lane.connections.get(connection);
    if (!waiting) {
      waiting = [];
      lane.connections.set(connection, waiting);
      this.callerOf.set(connection, caller);
    }
    waiting.push({ item, bytes });
    lane.items = items;
    lane.bytes = total;
    this.count++;
    return true;
  }

  /** The next item in turn, taken out of the queue; undefined when nothing waits. */
  next(): T | undefined {
    const first = this.lanes.entries().next();
    if (first.done) return undefined;
    const [caller, lane] = first.value;
    const [connection, waiting] = lane.connections.entries().next().value as [string, Waiting<T>[]];
    const taken = waiting.shift()!;
    // Both go to the back of their turn order (or leave it, with nothing more waiting).
    this.lanes.delete(caller);
    lane.connections.delete(connection);
    if (waiting.length > 0) lane.connections.set(connection, waiting);
    else this.callerOf.delete(connection);
    lane.items--;
    lane.bytes -= taken.bytes;
    if (lane.items > 0) this.lanes.set(caller, lane);
    this.count--;
    return taken.item;
  }

  /** Take every item `connection` has waiting out of the queue (it went away), oldest first. */
  removeConnection(connection: string): T[] {
    const caller = this.callerOf.get(connection);
    if (caller === undefined) return [];
    this.callerOf.delete(connection);
    const lane = this.lanes.get(caller)!;
    const waiting = lane.connections.get(connection)!;
    lane.connections.delete(connection);
    lane.items -= waiting.length;
    lane.bytes -= waiting.reduce((sum, w) => sum + w.bytes, 0);
    if (lane.items === 0) this.lanes.delete(caller);
    this.count -= waiting.length;
    return waiting.map((w) => w.item);
  }

  /** Take everything out of the queue. */
  clear(): T[] {
    return [...this.callerOf.keys()].flatMap((connection) => this.removeConnection(connection));
  }
}
