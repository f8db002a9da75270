// The authorisation policy of mutating calls: root callers pass (as with systemd's daemons), everyone else needs
// polkit's yes for the method's action. Denials are PermissionDenied errors that say what to do.

import { Message, type MessageBus } from 'dbus-next';
import { SplicedError } from '../errors';
import type { Authority } from './authority';
import type { Caller } from './caller';
import type { PolkitAction } from './names';

export interface AuthorizerOptions {
  /** Callers with uid 0 skip the Authority (default true; host tests turn it off since they run as root). */
  trustRoot: boolean;
}

export class Authorizer {
  constructor(
    private readonly bus: MessageBus,
    private readonly authority: Authority,
    private readonly options: AuthorizerOptions,
  ) {}

  /** Resolves with a description of the caller for the history ("uid 1000 via :1.42"), or throws PermissionDenied. */
  async authorize(caller: Caller, action: PolkitAction, interactiveOption: boolean): Promise<string> {
    const uid = await this.uidOf(caller.sender);
    const who = `uid ${uid} via ${caller.sender}`;
    if (uid === 0 && this.options.trustRoot) return who;

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
    if (verdict === 'yes') return who;
    const hint =
      verdict === 'challenge'
        ? interactive
          ? 'authentication failed or was dismissed, or no authentication agent is running'
          : 'authentication is required: retry interactively (an authentication agent must be running)'
        : 'polkit denies it';
    throw new SplicedError('PermissionDenied', `${who} is not authorised for ${action}: ${hint}`, { action, uid });
  }

  private async uidOf(sender: string): Promise<number> {
    const reply = await this.bus.call(
      new Message({
        destination: 'org.freedesktop.DBus',
        path: '/org/freedesktop/DBus',
        interface: 'org.freedesktop.DBus',
        member: 'GetConnectionUnixUser',
        signature: 's',
        body: [sender],
      }),
    );
    const uid = reply?.body[0];
    if (typeof uid !== 'number') throw new SplicedError('Internal', `the bus did not tell the uid of ${sender}`);
    return uid;
  }
}
