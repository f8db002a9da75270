// The distro feed in the daemon (docs/feed.md "In the daemon"): on each refresh it asks apt what newer source the
// running kernel's series has (apt-view.ts), announces a new version, and as the policy says plans the delta
// (plan.ts, a job of the daemon's build worker: src/daemon/plan-job.ts), builds one cumulative splice through the
// daemon's builder (its build slots and worker: feed-splice.ts) and applies it through the engine as origin `feed`. Fixes the builder refuses become
// reboot reasons. Refreshes come from Refresh(), the apt hook, the watch on apt's lists and its own timers
// (feed_delay, the apply window), all through one RefreshGate.

import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { EngineLog } from '../../engine/context';
import type { Engine, SpliceBuilder } from '../../engine/types';
import { asSplicedError } from '../../errors';
import { imageBuiltFrom, type FeedView } from './apt-view';
import type { Feed, FeedActivity, FeedEvents, FeedOffer, FeedStatus } from './feed-types';
import { buildFeedSplice } from './feed-splice';
import type { BuiltSplice, FeedState } from './feed-state';
import type { PlanRunner } from './plan';
import { chooseTarget, msUntilWindow, type FeedSettings } from './policy';
import { RefreshGate, type GateAnswer } from './refresh-gate';

export interface DistroFeedDeps {
  settings: FeedSettings;
  engine: Pick<Engine, 'apply' | 'revert' | 'status' | 'list'>;
  /** The daemon's builder (build slots + worker process), shared with source patches from D-Bus and the drop directory. */
  builder: SpliceBuilder;
  view: (running: { release: string; sourceVersion: string }) => Promise<FeedView>;
  plan: PlanRunner;
  state: FeedState;
  log: EngineLog;
  /** Fixes that could not be spliced: the engine adds them to RebootReasons. */
  setRebootReasons: (reasons: string[]) => void;
  /** Requests within this long join one refresh (default 2 s). */
  debounceMs?: number;
  now?: () => Date;
}

/** Timers never wait longer than this at once (setTimeout's limit is ≈ 24.8 days); the next refresh looks again. */
const MAX_WAIT_MS = 24 * 3600 * 1000;

export class DistroFeed extends EventEmitter<FeedEvents> implements Feed {
  private readonly gate: RefreshGate;
  private readonly stopping = new AbortController();
  private readonly now: () => Date;
  private wake: NodeJS.Timeout | null = null;
  private current: FeedStatus;

  constructor(private readonly deps: DistroFeedDeps) {
    super();
    this.now = deps.now ?? (() => new Date());
    this.gate = new RefreshGate(() => this.cycle(), deps.debounceMs ?? 2000, () => this.now().getTime());
    this.current = {
      settings: deps.settings,
      activity: deps.settings.policy === 'off' ? 'off' : 'idle',
      offered: null,
      pending: null,
      lastError: null,
      lastRefresh: null,
    };
  }

  status(): FeedStatus {
    return this.current;
  }

  /** `cause`: when what asks happened (the watch on apt's lists: its last change); a refresh started since covers it. */
  refresh(reason: string, cause?: Date): GateAnswer {
    const answer = this.gate.request(cause?.getTime());
    this.deps.log.info({ event: 'feed-refresh-requested', reason, answer }, `feed refresh requested (${reason}): ${answer}`);
    return answer;
  }

  /** Resolves once nothing runs or waits to run (tests). */
  idle(): Promise<void> {
    return this.gate.idle();
  }

  /** Stops timers and a running plan or build (it is redone at the next start); an apply job in the engine finishes there. */
  async stop(): Promise<void> {
    if (this.wake !== null) clearTimeout(this.wake);
    this.stopping.abort();
    await this.gate.stop();
  }

  private set(change: Partial<FeedStatus>): void {
    this.current = { ...this.current, ...change };
    this.emit('status-changed', this.current);
  }

  private wakeIn(ms: number): void {
    if (this.wake !== null) clearTimeout(this.wake);
    this.wake = setTimeout(() => {
      this.wake = null;
      this.refresh('a wait ended');
    }, Math.min(ms, MAX_WAIT_MS));
  }

  /** One refresh; never rejects (its failure is lastError and the log). */
  private async cycle(): Promise<void> {
    try {
      const { activity, pending } = await this.decide();
      this.set({ activity, pending, lastError: null, lastRefresh: this.now().toISOString() });
    } catch (err) {
      const error = asSplicedError(err);
      if (this.stopping.signal.aborted) return;
      // A kernel that is no Debian 12 build has no feed: worth a warning, not an error at every refresh.
      const level = error.kind === 'NotApplicable' ? 'warn' : 'error';
      this.deps.log[level]({ event: 'feed-failed', kind: error.kind, details: error.details }, `feed: ${error.message}`);
      this.set({ activity: 'idle', lastError: `${error.kind}: ${error.message}`, lastRefresh: this.now().toISOString() });
    }
  }

  private async decide(): Promise<{ activity: FeedActivity; pending: string | null }> {
    const { settings, engine, state } = this.deps;
    if (settings.policy === 'off') return { activity: 'off', pending: null };
    const status = engine.status();
    // The kill switch stops the feed before it asks apt anything, as it stops the drop directory.
    if (status.disabledReason !== null) return { activity: 'disabled', pending: null };
    const running = { release: status.kernel.release, sourceVersion: status.baseVersion };
    this.set({ activity: 'refreshing' });
    const view = await this.deps.view(running);
    const target = chooseTarget(view.newerSourceVersions, settings.pinVersion);
    if (target === undefined) {
      this.set({ offered: null });
      this.deps.setRebootReasons([]);
      return { activity: 'idle', pending: null };
    }
    const offer: FeedOffer = { sourceVersion: target, imagePackage: imageBuiltFrom(view, target)?.package ?? null };
    this.set({ offered: offer });
    if (state.get().announced !== target) {
      state.update({ announced: target });
      this.emit('update-available', { ...offer, policy: settings.policy });
    }
    if (settings.policy === 'notify') return { activity: 'idle', pending: `${target} is offered (feed_policy notify: nothing is built)` };

    const seen = state.firstSeen(target, this.now());
    const wait = seen.getTime() + settings.delaySeconds * 1000 - this.now().getTime();
    if (wait > 0) {
      this.wakeIn(wait);
      return { activity: 'waiting', pending: `${target}: waiting until ${new Date(seen.getTime() + settings.delaySeconds * 1000).toISOString()} (feed_delay ${settings.delaySeconds} s after it was first seen)` };
    }
    const built = await this.builtFor(running, target);
    this.deps.setRebootReasons(built.rebootReasons);
    if (built.module === null) return { activity: 'idle', pending: null };
    if (settings.policy === 'build') {
      if (this.isApplied(built)) return { activity: 'idle', pending: null };
      return { activity: 'waiting', pending: `${target}: built, waiting for an administrator: splicectl apply ${built.module}` };
    }
    return this.applyInWindow(built);
  }

  /** The splice for this kernel and target: the one built before (kept across restarts), else built now. */
  private async builtFor(running: { release: string; sourceVersion: string }, target: string): Promise<BuiltSplice> {
    const { state, log } = this.deps;
    const known = state.get().built;
    if (known && known.release === running.release && known.running === running.sourceVersion && known.target === target && (known.module === null || fs.existsSync(known.module))) {
      return known;
    }
    this.set({ activity: 'building', pending: `${target}: planning the delta from ${running.sourceVersion}` });
    const started = Date.now();
    const plan = await this.deps.plan(running, target, this.stopping.signal);
    const output = path.join(state.dir, `splice-${target}.ko`);
    const splice = await buildFeedSplice({
      plan,
      running: running.sourceVersion,
      target,
      builder: this.deps.builder,
      output,
      onStep: (step) => this.set({ pending: `${target}: building: ${step.message}` }),
      signal: this.stopping.signal,
    });
    const built: BuiltSplice = {
      release: running.release,
      running: running.sourceVersion,
      target,
      module: splice.built ? output : null,
      sha256: splice.built ? createHash('sha256').update(fs.readFileSync(output)).digest('hex') : null,
      complete: splice.complete,
      refused: splice.refused,
      rebootReasons: splice.rebootReasons,
    };
    state.update({ built });
    log.info(
      { event: 'feed-built', target, module: built.module, refused: built.refused, durationMs: Date.now() - started, files: plan.report.delta?.files.length ?? 0 },
      `feed splice for ${target}: ${built.module ?? 'nothing to splice'}${built.refused.length ? `, ${built.refused.length} file(s) refused` : ''}`,
    );
    return built;
  }

  private isApplied(built: BuiltSplice): boolean {
    return this.deps.engine.list().some((row) => row.sha256 === built.sha256 && row.state === 'applied');
  }

  private async applyInWindow(built: BuiltSplice): Promise<{ activity: FeedActivity; pending: string | null }> {
    if (this.isApplied(built)) return { activity: 'idle', pending: null };
    const window = this.deps.settings.applyWindow;
    const wait = msUntilWindow(window, this.now());
    if (wait > 0) {
      this.wakeIn(wait);
      return { activity: 'waiting', pending: `${built.target}: built, waiting for the apply window ${window!.text}` };
    }
    this.set({ activity: 'applying', pending: `${built.target}: applying` });
    const job = this.deps.engine.apply(
      { content: fs.readFileSync(built.module!), name: `distro feed ${built.target} (${built.module})` },
      { origin: 'feed' },
    );
    const done = await job.done;
    if (done.error) throw done.error;
    if (built.complete) await this.retireOlderSplices(done.result!.patches[0].id);
    return { activity: 'idle', pending: null };
  }

  /**
   * One feed splice per kernel: the new one, built from the running kernel's own source, carries every fix of an
   * older feed splice, so that one is retired (disabled although not topmost, recorded superseded). Only after a
   * complete splice: one that misses a refused fix keeps the older ones, which may carry it.
   */
  private async retireOlderSplices(newId: string): Promise<void> {
    const release = this.deps.engine.status().kernel.release;
    const older = this.deps.engine.list().filter((p) => p.origin === 'feed' && p.state === 'applied' && p.kernelRelease === release && p.id !== newId);
    for (const patch of older) {
      const done = await this.deps.engine.revert(patch.id, { supersededBy: newId }).done;
      if (done.error) throw done.error;
      this.deps.log.info({ event: 'feed-superseded', patch: patch.id, by: newId }, `feed splice ${patch.id} retired: ${newId} carries its fixes`);
    }
  }
}
