// The distro feed's place in the daemon (docs/feed.md "In the daemon"): the feed itself, fed by the engine's builder
// and the settings of spliced.conf, and the watch on apt's lists that asks it to refresh when no apt hook did.
// Started after READY=1 (a first refresh: apt may have updated while spliced was down), stopped before the engine.

import * as path from 'node:path';
import type pino from 'pino';
import { aptView } from '../sources/feed/apt-view';
import { AptListsWatch } from '../sources/feed/apt-lists-watch';
import { DistroFeed } from '../sources/feed/feed';
import { FeedState } from '../sources/feed/feed-state';
import type { Composed } from './compose';
import type { Config } from './config';
import { workerPlanner } from './plan-job';

export interface RunningFeed {
  feed: DistroFeed;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export function composeFeed(config: Config, composed: Composed, log: pino.Logger): RunningFeed {
  const dir = path.join(config.stateDir, 'feed');
  const feed = new DistroFeed({
    settings: {
      policy: config.feedPolicy,
      pinVersion: config.feedPinVersion,
      delaySeconds: config.feedDelaySeconds,
      applyWindow: config.feedApplyWindow,
    },
    engine: composed.engine,
    builder: composed.builder,
    view: (running) => aptView(running),
    plan: workerPlanner(composed.runner),
    state: new FeedState(dir),
    log,
    setRebootReasons: (reasons) => composed.engine.setSourceRebootReasons(reasons),
  });
  const watch = new AptListsWatch({ dir: config.aptListsDir, log, onChanged: (at) => feed.refresh("apt's lists changed", at) });
  let watching = false;
  return {
    feed,
    start: async () => {
      if (config.feedPolicy === 'off') return;
      try {
        await watch.start();
        watching = true;
      } catch (err) {
        log.warn({ dir: config.aptListsDir }, `not watching apt's lists: ${(err as Error).message}`);
      }
      feed.refresh('spliced started');
    },
    stop: async () => {
      if (watching) await watch.stop();
      await feed.stop();
    },
  };
}
