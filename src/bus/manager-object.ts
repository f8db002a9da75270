// org.spliced.Spliced1.Manager at /org/spliced/Spliced1 (dbus/org.spliced.Spliced1.Manager.xml): adapts calls to the
// engine, checks polkit for Apply/Revert, mirrors the engine's status as properties and its events as signals.

import * as path from 'node:path';
import * as dbus from 'dbus-next';
import { SplicedError } from '../errors';
import { KERNEL_PACKAGE_VERSION_RE } from '../engine/version';
import { TRANSITION_TIMEOUT_MS } from '../engine/context';
import { describeFd, readNamedFile, readReceivedFd } from '../sources/read-once';
import type { Engine, EngineStatus, PatchRecord } from '../engine/types';
import type { Feed, FeedOffer, FeedStatus } from '../sources/feed/feed-types';
import type { Authorizer } from './authorizer';
import type { CallTracker } from './caller';
import { replyOrDBusError } from './dbus-error';
import { closeQuietly } from './dbus-next-gaps';
import type { JobObjects } from './job-object';
import { checkId, historyPage } from './limits';
import { ACTION_APPLY, ACTION_REFRESH, ACTION_REVERT, MANAGER_INTERFACE } from './names';
import { parseOptions } from './options';
import { historyRow, patchDict, patchRow, usec, type HistoryRow, type WirePatchRow } from './wire';

/** A linux-source version a source patch is written against (Debian's version syntax, as apt would take it). */
const SOURCE_VERSION = { pattern: KERNEL_PACKAGE_VERSION_RE, maxLength: 64, what: 'a Debian package version (like 6.1.192-2)' };
const APPLY_OPTIONS = { interactive: 'b', transition_timeout_ms: TRANSITION_TIMEOUT_MS, source_version: SOURCE_VERSION } as const;
const REVERT_OPTIONS = { interactive: 'b', down_to: 'b', transition_timeout_ms: TRANSITION_TIMEOUT_MS } as const;
const REFRESH_OPTIONS = { interactive: 'b' } as const;

/** The Manager's properties, computed from the engine's status. */
function statusProperties(s: EngineStatus) {
  return {
    KernelRelease: s.kernel.release,
    KernelBuildId: s.kernel.buildId,
    KernelVersion: s.kernel.version,
    LivepatchSupported: s.livepatchSupported,
    ModuleSignatures: s.moduleSignatures.required ? 'required' : 'not-required',
    Lockdown: s.moduleSignatures.lockdown ?? '',
    SigningKey: s.moduleSignatures.signingKey ?? '',
    BaseVersion: s.baseVersion,
    EffectiveVersion: s.effectiveVersion,
    State: s.state,
    DisabledReason: s.disabledReason ?? '',
    RebootRequired: s.rebootRequired,
    RebootReasons: s.rebootReasons,
    AppliedPatches: s.applied,
    HeldByCrashGuard: s.heldByCrashGuard,
  };
}

/** The feed's properties; a bus without a feed (tests) shows policy off. */
function feedProperties(f: FeedStatus | null) {
  return {
    FeedPolicy: f?.settings.policy ?? 'off',
    FeedPinVersion: f?.settings.pinVersion ?? '',
    FeedDelay: Math.ceil(f?.settings.delaySeconds ?? 0),
    FeedApplyWindow: f?.settings.applyWindow?.text ?? '',
    FeedState: f?.activity ?? 'off',
    FeedOffered: f?.offered?.sourceVersion ?? '',
    FeedOfferedImage: f?.offered?.imagePackage ?? '',
    FeedPending: f?.pending ?? '',
    FeedLastError: f?.lastError ?? '',
    FeedLastRefresh: usec(f?.lastRefresh ?? null),
  };
}
type StatusProperties = ReturnType<typeof statusProperties> & ReturnType<typeof feedProperties>;

export interface ManagerDeps {
  engine: Engine;
  jobs: JobObjects;
  calls: CallTracker;
  authorizer: Authorizer;
  /** Largest file Apply and ApplyFd take. */
  maxInputBytes: number;
  /** The distro feed (Refresh, the Feed* properties, UpdateAvailable); absent: policy off, Refresh is NotApplicable. */
  feed: Feed | null;
}

export class ManagerInterface extends dbus.interface.Interface {
  private props: StatusProperties;
  private readonly detachEngine: () => void;

  constructor(private readonly deps: ManagerDeps) {
    super(MANAGER_INTERFACE);
    const { engine } = deps;
    const { feed } = deps;
    this.props = { ...statusProperties(engine.status()), ...feedProperties(feed?.status() ?? null) };

    const onStatus = (status: EngineStatus) => this.publishStatus(status);
    const onApplied = (p: PatchRecord) => this.PatchApplied(p.id, p.name);
    const onReverted = (p: PatchRecord) => this.PatchReverted(p.id, p.name);
    const onFailed = (e: { patch: PatchRecord | null; target: string; error: SplicedError }) =>
      this.PatchFailed(e.patch?.id ?? '', e.patch?.name ?? '', e.target, e.error.dbusName, e.error.message);
    // Jobs started elsewhere (drop directory, feed) are visible on the bus too.
    const onJob = deps.jobs.export.bind(deps.jobs);
    const onFeedStatus = () => this.publishStatus(engine.status());
    const onUpdate = (o: FeedOffer & { policy: string }) => this.UpdateAvailable(o.sourceVersion, o.imagePackage ?? '', o.policy);
    feed?.on('status-changed', onFeedStatus);
    feed?.on('update-available', onUpdate);
    engine.on('status-changed', onStatus);
    engine.on('patch-applied', onApplied);
    engine.on('patch-reverted', onReverted);
    engine.on('patch-failed', onFailed);
    engine.on('job-created', onJob);
    this.detachEngine = () => {
      engine.off('status-changed', onStatus);
      engine.off('patch-applied', onApplied);
      engine.off('patch-reverted', onReverted);
      engine.off('patch-failed', onFailed);
      engine.off('job-created', onJob);
      feed?.off('status-changed', onFeedStatus);
      feed?.off('update-available', onUpdate);
    };
  }

  detach(): void {
    this.detachEngine();
  }

  // --- methods (each takes its caller before the first await; see caller.ts) ---

  /**
   * Apply the file at a path (a symbolic link the caller gives is followed): opened once after authorisation, and what
   * fstat checks on that descriptor is what is read and applied.
   */
  Apply(file: string, options: Record<string, dbus.Variant>): Promise<string> {
    const caller = this.deps.calls.take();
    return replyOrDBusError(async () => {
      const opts = parseOptions(APPLY_OPTIONS, options);
      if (!path.isAbsolute(file)) {
        throw new SplicedError('InvalidArgument', `the file path must be absolute, got "${file}"`, { path: file });
      }
      const requestedBy = await this.deps.authorizer.authorize(caller, ACTION_APPLY, opts.interactive ?? false);
      const { content } = await readNamedFile(file, { maxBytes: this.deps.maxInputBytes });
      const job = this.deps.engine.apply({ content, name: file }, {
        origin: 'dbus',
        requestedBy,
        transitionTimeoutMs: opts.transition_timeout_ms,
        ...(opts.source_version !== undefined && { sourceVersion: opts.source_version }),
      });
      return this.deps.jobs.export(job);
    });
  }

  /**
   * Apply from a file descriptor the caller opened: the daemon reads what the caller can read, in any namespace. The
   * descriptor itself is read (never reopened by a name), from offset 0, and closed before the reply.
   */
  ApplyFd(fd: number, options: Record<string, dbus.Variant>): Promise<string> {
    const caller = this.deps.calls.take();
    return replyOrDBusError(async () => {
      try {
        const opts = parseOptions(APPLY_OPTIONS, options);
        const requestedBy = await this.deps.authorizer.authorize(caller, ACTION_APPLY, opts.interactive ?? false);
        const { content } = await readReceivedFd(fd, this.deps.maxInputBytes);
        const job = this.deps.engine.apply({ content, name: describeFd(fd) }, {
          origin: 'dbus',
          requestedBy,
          transitionTimeoutMs: opts.transition_timeout_ms,
          ...(opts.source_version !== undefined && { sourceVersion: opts.source_version }),
        });
        return this.deps.jobs.export(job);
      } finally {
        // Before the reply: the caller may count on the daemon holding no copy once the call returns.
        closeQuietly(fd);
      }
    });
  }

  Revert(id: string, options: Record<string, dbus.Variant>): Promise<string> {
    const caller = this.deps.calls.take();
    return replyOrDBusError(async () => {
      const opts = parseOptions(REVERT_OPTIONS, options);
      // Unknown ids fail here, before anyone is asked for a password.
      this.deps.engine.getPatch(checkId(id));
      const requestedBy = await this.deps.authorizer.authorize(caller, ACTION_REVERT, opts.interactive ?? false);
      const job = this.deps.engine.revert(id, {
        downTo: opts.down_to,
        requestedBy,
        transitionTimeoutMs: opts.transition_timeout_ms,
      });
      return this.deps.jobs.export(job);
    });
  }

  /** Ask the distro feed to look at apt's lists again; bursts coalesce (returns what became of this request). */
  Refresh(options: Record<string, dbus.Variant>): Promise<string> {
    const caller = this.deps.calls.take();
    return replyOrDBusError(async () => {
      const opts = parseOptions(REFRESH_OPTIONS, options);
      await this.deps.authorizer.authorize(caller, ACTION_REFRESH, opts.interactive ?? false);
      if (this.deps.feed === null) throw new SplicedError('NotApplicable', 'this spliced serves no distro feed');
      return this.deps.feed.refresh('Refresh() over D-Bus');
    });
  }

  List(): Promise<WirePatchRow[]> {
    return replyOrDBusError(() => this.deps.engine.list().map(patchRow));
  }

  GetPatch(id: string): Promise<Record<string, dbus.Variant>> {
    return replyOrDBusError(() => patchDict(this.deps.engine.getPatch(checkId(id))));
  }

  GetHistory(patchId: string, limit: number): Promise<HistoryRow[]> {
    return replyOrDBusError(() =>
      this.deps.engine
        .history({ patchId: patchId === '' ? undefined : checkId(patchId), limit: historyPage(limit) })
        .map(historyRow),
    );
  }

  GetJobs(): Promise<string[]> {
    return replyOrDBusError(() => this.deps.engine.jobs().map((job) => this.deps.jobs.export(job)));
  }

  // --- signals ---

  PatchApplied(id: string, name: string): unknown[] {
    return [id, name];
  }
  PatchReverted(id: string, name: string): unknown[] {
    return [id, name];
  }
  PatchFailed(id: string, name: string, target: string, errorName: string, errorMessage: string): unknown[] {
    return [id, name, target, errorName, errorMessage];
  }
  UpdateAvailable(sourceVersion: string, imagePackage: string, policy: string): unknown[] {
    return [sourceVersion, imagePackage, policy];
  }

  // --- properties ---

  get KernelRelease() { return this.props.KernelRelease; }
  get KernelBuildId() { return this.props.KernelBuildId; }
  get KernelVersion() { return this.props.KernelVersion; }
  get LivepatchSupported() { return this.props.LivepatchSupported; }
  get ModuleSignatures() { return this.props.ModuleSignatures; }
  get Lockdown() { return this.props.Lockdown; }
  get SigningKey() { return this.props.SigningKey; }
  get BaseVersion() { return this.props.BaseVersion; }
  get EffectiveVersion() { return this.props.EffectiveVersion; }
  get State() { return this.props.State; }
  get DisabledReason() { return this.props.DisabledReason; }
  get RebootRequired() { return this.props.RebootRequired; }
  get RebootReasons() { return this.props.RebootReasons; }
  get AppliedPatches() { return this.props.AppliedPatches; }
  get HeldByCrashGuard() { return this.props.HeldByCrashGuard; }
  get FeedPolicy() { return this.props.FeedPolicy; }
  get FeedPinVersion() { return this.props.FeedPinVersion; }
  get FeedDelay() { return this.props.FeedDelay; }
  get FeedApplyWindow() { return this.props.FeedApplyWindow; }
  get FeedState() { return this.props.FeedState; }
  get FeedOffered() { return this.props.FeedOffered; }
  get FeedOfferedImage() { return this.props.FeedOfferedImage; }
  get FeedPending() { return this.props.FeedPending; }
  get FeedLastError() { return this.props.FeedLastError; }
  get FeedLastRefresh() { return this.props.FeedLastRefresh; }

  private publishStatus(status: EngineStatus): void {
    const next = { ...statusProperties(status), ...feedProperties(this.deps.feed?.status() ?? null) };
    const changed: Partial<StatusProperties> = {};
    for (const key of Object.keys(next) as (keyof StatusProperties)[]) {
      if (JSON.stringify(next[key]) !== JSON.stringify(this.props[key])) Object.assign(changed, { [key]: next[key] });
    }
    this.props = next;
    if (Object.keys(changed).length > 0) dbus.interface.Interface.emitPropertiesChanged(this, changed, []);
  }
}

const read = (signature: string) => ({ signature, access: 'read' as const });

ManagerInterface.configureMembers({
  methods: {
    Apply: { inSignature: 'sa{sv}', outSignature: 'o' },
    ApplyFd: { inSignature: 'ha{sv}', outSignature: 'o' },
    Revert: { inSignature: 'sa{sv}', outSignature: 'o' },
    List: { outSignature: 'a(sssssusstsas)' },
    GetPatch: { inSignature: 's', outSignature: 'a{sv}' },
    GetHistory: { inSignature: 'su', outSignature: 'a(ttsssssss)' },
    GetJobs: { outSignature: 'ao' },
    Refresh: { inSignature: 'a{sv}', outSignature: 's' },
  },
  properties: {
    KernelRelease: read('s'),
    KernelBuildId: read('s'),
    KernelVersion: read('s'),
    LivepatchSupported: read('b'),
    ModuleSignatures: read('s'),
    Lockdown: read('s'),
    SigningKey: read('s'),
    BaseVersion: read('s'),
    EffectiveVersion: read('s'),
    State: read('s'),
    DisabledReason: read('s'),
    RebootRequired: read('b'),
    RebootReasons: read('as'),
    AppliedPatches: read('as'),
    HeldByCrashGuard: read('as'),
    FeedPolicy: read('s'),
    FeedPinVersion: read('s'),
    FeedDelay: read('u'),
    FeedApplyWindow: read('s'),
    FeedState: read('s'),
    FeedOffered: read('s'),
    FeedOfferedImage: read('s'),
    FeedPending: read('s'),
    FeedLastError: read('s'),
    FeedLastRefresh: read('t'),
  },
  signals: {
    PatchApplied: { signature: 'ss' },
    PatchReverted: { signature: 'ss' },
    PatchFailed: { signature: 'sssss' },
    UpdateAvailable: { signature: 'sss' },
  },
});
