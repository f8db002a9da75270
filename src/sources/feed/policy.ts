// What the feed may do on its own (spliced.conf: feed_policy, feed_pin_version, feed_delay, feed_apply_window;
// docs/config.md): which offered version it targets, when it may start, and when a built splice may be applied.

import { compareVersions } from './debian-version';

/** auto: build and apply; build: build, an admin applies; notify: only report; off: nothing, not even apt queries. */
export type FeedPolicy = 'auto' | 'build' | 'notify' | 'off';
export const FEED_POLICIES: readonly FeedPolicy[] = ['auto', 'build', 'notify', 'off'];

export interface FeedSettings {
  policy: FeedPolicy;
  /** Never target a source version newer than this one (null: the newest apt offers). */
  pinVersion: string | null;
  /** Seconds a version must have been seen in apt's indexes before the feed builds it. */
  delaySeconds: number;
  /** Daily local-time window in which splices are applied (null: any time). */
  applyWindow: ApplyWindow | null;
}

/** Minutes after local midnight; `end` < `start` spans midnight ("22:00-04:00"). */
export interface ApplyWindow {
  start: number;
  end: number;
  /** As configured, for people and the bus. */
  text: string;
}

/** The newest offered version not beyond the pin. */
export function chooseTarget(offered: readonly string[], pin: string | null): string | undefined {
  return offered.filter((v) => pin === null || compareVersions(v, pin) <= 0).sort(compareVersions).at(-1);
}

const TIME_RE = /^([01]\d|2[0-3]):([0-5]\d)$/;

/** "HH:MM-HH:MM" (24 h, local time); equal ends are refused (say nothing, or pick a real window). */
export function parseApplyWindow(text: string): ApplyWindow {
  const [from, to, ...rest] = text.split('-').map((s) => s.trim());
  const start = TIME_RE.exec(from ?? '');
  const end = TIME_RE.exec(to ?? '');
  if (!start || !end || rest.length > 0) throw new Error(`"${text}" is not a daily window "HH:MM-HH:MM" (24-hour local time)`);
  const window = { start: Number(start[1]) * 60 + Number(start[2]), end: Number(end[1]) * 60 + Number(end[2]), text };
  if (window.start === window.end) throw new Error(`"${text}" is an empty window`);
  return window;
}

/** Milliseconds from `now` until the window is open: 0 inside it (or without a window). */
export function msUntilWindow(window: ApplyWindow | null, now: Date): number {
  if (window === null) return 0;
  const minute = now.getHours() * 60 + now.getMinutes();
  const inside = window.start < window.end ? minute >= window.start && minute < window.end : minute >= window.start || minute < window.end;
  if (inside) return 0;
  const opening = new Date(now);
  opening.setHours(Math.floor(window.start / 60), window.start % 60, 0, 0);
  if (opening <= now) opening.setDate(opening.getDate() + 1);
  return opening.getTime() - now.getTime();
}
