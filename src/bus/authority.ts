// Authorisation of Apply and Revert. fwupd-style: the adapter asks per method; the decision comes from an Authority,
// polkit in the daemon, an injected allow/deny authority in host tests (polkit does not run on the host).

import { Message, MessageBus, Variant } from 'dbus-next';
import type { PolkitAction } from './names';

export type Verdict = 'yes' | 'no' | 'challenge';

export interface AuthorizationRequest {
  action: PolkitAction;
  /** Unique bus name of the caller. */
  sender: string;
  /** polkit may ask the user for a password (an authentication agent must be running for the caller). */
  interactive: boolean;
}

export interface Authority {
  /** 'challenge': not authorised now, but would be after authenticating (retry interactively). */
  check(request: AuthorizationRequest): Promise<Verdict>;
}

const POLKIT_NAME = 'org.freedesktop.PolicyKit1';
const POLKIT_PATH = '/org/freedesktop/PolicyKit1/Authority';
const POLKIT_INTERFACE = 'org.freedesktop.PolicyKit1.Authority';
const ALLOW_USER_INTERACTION = 0x1;

/** polkit's org.freedesktop.PolicyKit1.Authority.CheckAuthorization for the caller's system bus name. */
export class PolkitAuthority implements Authority {
  constructor(private readonly bus: MessageBus) {}

  async check(request: AuthorizationRequest): Promise<Verdict> {
    const subject = ['system-bus-name', { name: new Variant('s', request.sender) }];
    const call = new Message({
      destination: POLKIT_NAME,
      path: POLKIT_PATH,
      interface: POLKIT_INTERFACE,
      member: 'CheckAuthorization',
      signature: '(sa{sv})sa{ss}us',
      body: [subject, request.action, {}, request.interactive ? ALLOW_USER_INTERACTION : 0, ''],
    });
    const reply = await this.bus.call(call);
    const [isAuthorized, isChallenge] = (reply?.body[0] ?? []) as [boolean, boolean, Record<string, string>];
    if (isAuthorized) return 'yes';
    return isChallenge ? 'challenge' : 'no';
  }
}
