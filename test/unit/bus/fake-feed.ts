// A scripted distro feed for the bus tests: the real RefreshGate (so bursts coalesce as in the daemon) in front of a
// refresh that only counts; status and signals set by the test.

import { EventEmitter } from 'node:events';
import type { Feed, FeedEvents, FeedStatus } from '../../../src/sources/feed/feed-types';
import { RefreshGate, type GateAnswer } from '../../../src/sources/feed/refresh-gate';

export class FakeFeed extends EventEmitter<FeedEvents> implements Feed {
  refreshes = 0;
  readonly reasons: string[] = [];
  current: FeedStatus = {
    settings: { policy: 'auto', pinVersion: '6.1.192-9', delaySeconds: 3600, applyWindow: { start: 120, end: 240, text: '02:00-04:00' } },
    activity: 'idle',
    offered: null,
    pending: null,
    lastError: null,
    lastRefresh: null,
  };
  readonly gate = new RefreshGate(async () => {
    this.refreshes++;
  }, 300);

  status(): FeedStatus {
    return this.current;
  }

  refresh(reason: string): GateAnswer {
    this.reasons.push(reason);
    return this.gate.request();
  }

  set(change: Partial<FeedStatus>): void {
    this.current = { ...this.current, ...change };
    this.emit('status-changed', this.current);
  }
}
