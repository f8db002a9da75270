// The distro feed as the D-Bus adapter and the daemon see it (docs/feed.md "In the daemon"): its settings, what it
// is doing, what apt offers and what is pending, and a refresh to request. Implemented by feed.ts.

import type { TypedEmitter } from '../../engine/types';
import type { FeedSettings } from './policy';
import type { GateAnswer } from './refresh-gate';

/**
 * off: policy off; disabled: the kill switch; idle: nothing to do; refreshing: asking apt; waiting: for feed_delay,
 * the apply window or an admin; building: planning and building a splice; applying: its apply job runs.
 */
export type FeedActivity = 'off' | 'disabled' | 'idle' | 'refreshing' | 'waiting' | 'building' | 'applying';

export interface FeedOffer {
  /** The linux-source version the feed targets (the newest apt offers, within the pin). */
  sourceVersion: string;
  /** The image package built from it, when apt knows one ("linux-image-6.1.0-56-amd64"). */
  imagePackage: string | null;
}

export interface FeedStatus {
  settings: FeedSettings;
  activity: FeedActivity;
  offered: FeedOffer | null;
  /** One line: what is pending and why, null when nothing is. */
  pending: string | null;
  /** The last refresh's failure, null when it succeeded. */
  lastError: string | null;
  /** ISO time the last refresh ended, null before the first. */
  lastRefresh: string | null;
}

export type FeedEvents = {
  'status-changed': [FeedStatus];
  /** A version the feed had not offered before (sent once per version, whatever the policy). */
  'update-available': [FeedOffer & { policy: FeedSettings['policy'] }];
};

export interface Feed extends TypedEmitter<FeedEvents> {
  status(): FeedStatus;
  /** Ask for a refresh; bursts coalesce into one, one asked during a refresh runs after it (refresh-gate.ts). */
  refresh(reason: string): GateAnswer;
}
