// The authorisation policy of mutating calls: root callers pass (as with systemd's daemons), everyone else needs
// polkit's yes for the method's action and must stay within its share of the job queue. Denials are
// PermissionDenied (or LimitExceeded) errors that say what to do.

import { SplicedError } from '../errors';
import type { Job } from '../engine/types';
import type { Authority } from './authority';
import type { Caller } from './caller';
import type { PolkitAction } from './names';

export interface AuthorizerOptions {
  /** Callers with uid 0 skip the Authority and the job limit (default true; off in host tests, which run as root). */
  trustRoot: boolean;
  /** Jobs one uid may have queued or running at once. */
  maxQueuedJobsPerCaller: number;
  /** The engine's unfinished jobs. */
  jobs: () => Job[];
}

/** How the history names a D-Bus caller; the job limit reads the uid back from it. */
function requester(uid: number, sender: string): string {
  return `uid ${uid} via ${sender}`;
}

function uidOfRequester(requestedBy: string | null): number | null {
  const match = requestedBy === null ? null : /^uid (\d+) via /.exec(requestedBy);
  return match ? Number(match[1]) : null;
}

export class Authorizer {
  constructor(
    /** The uid behind a caller's unique bus name. */
    private readonly uidOf: (sender: string) => Promise<number>,
    private readonly authority: Authority,
    private readonly options: AuthorizerOptions,
  ) {}

  /** Resolves with a description of the caller for the history ("uid 1000 via :1.42"), or throws PermissionDenied. */
  async authorize(caller: Caller, action: PolkitAction, interactiveOption: boolean): Promise<string> {
    const uid = await this.uidOf(caller.sender);
    const who = requester(uid, caller.sender);
    if (uid === 0 && this.options.trustRoot) return who;
    this.checkJobLimit(uid);

    const interactive = interactiveOption || caller.allowsInteraction;
    let verdict;
    try {
      verdict = await this.authority.check({ action, sender: caller.sender, interactive });
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      throw new SplicedError('PermissionDenied', `cannot check authorisation for ${action} with polkit: ${reason}`, {
        action,
      });
    }
    if (verdict === 'yes') {
      // Again: other calls of this uid may have queued jobs while polkit answered. The caller creates its job
      // synchronously after this returns, so nothing can come in between.
      this.checkJobLimit(uid);
      return who;
    }
    const hint =
      verdict === 'challenge'
        ? interactive
          ? 'authentication failed or was dismissed, or no authentication agent is running'
          : 'authentication is required: retry interactively (an authentication agent must be running)'
        : 'polkit denies it';
    throw new SplicedError('PermissionDenied', `${who} is not authorised for ${action}: ${hint}`, { action, uid });
  }

  private checkJobLimit(uid: number): void {
    const max = this.options.maxQueuedJobsPerCaller;
    const unfinished = this.options.jobs().filter((job) => uidOfRequester(job.requestedBy) === uid).length;
    if (unfinished >= max) {
      throw new SplicedError(
        'LimitExceeded',
        `uid ${uid} already has ${unfinished} jobs queued or running (at most ${max}); wait for one to finish`,
        { uid, max },
      );
    }
  }
}
