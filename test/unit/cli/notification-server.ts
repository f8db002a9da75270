// A scripted org.freedesktop.Notifications server on a test session bus: it records what clients post, and can be
// told to answer well, never, or with nonsense, as a real server might.

import { Message, MessageType, sessionBus, type MessageBus } from 'dbus-next';
import type { ShownNotification } from '../../support/desktop-session';

/** A Notify call as posted, with the id it was given. */
export interface Posted extends ShownNotification {
  hints: Record<string, unknown>;
  timeout: number;
}

export type Behaviour = 'answer' | 'hang' | 'nonsense';

export class ScriptedNotificationServer {
  readonly posted: Posted[] = [];
  /** The members called, in order, however it answered. */
  readonly called: string[] = [];
  capabilities = ['actions', 'body', 'body-markup'];
  behaviour: Behaviour = 'answer';
  private nextId = 1;

  private constructor(private readonly bus: MessageBus) {}

  static async start(address: string): Promise<ScriptedNotificationServer> {
    const bus = sessionBus({ busAddress: address } as Parameters<typeof sessionBus>[0]);
    const server = new ScriptedNotificationServer(bus);
    bus.addMethodHandler((msg: Message) => server.handle(msg));
    await bus.requestName('org.freedesktop.Notifications', 0);
    return server;
  }

  /** Send ActionInvoked for notification `id`, from the server (to everyone, as servers do). */
  invoke(id: number, action: string): void {
    this.bus.send(
      new Message({
        type: MessageType.SIGNAL,
        path: '/org/freedesktop/Notifications',
        interface: 'org.freedesktop.Notifications',
        member: 'ActionInvoked',
        signature: 'us',
        body: [id, action],
      }),
    );
  }

  stop(): void {
    this.bus.disconnect();
  }

  private handle(msg: Message): boolean {
    if (msg.interface !== 'org.freedesktop.Notifications') return false;
    this.called.push(msg.member ?? '');
    if (this.behaviour === 'hang') return true;
    if (this.behaviour === 'nonsense') {
      this.bus.send(Message.newMethodReturn(msg, 's', ['not what you asked']));
      return true;
    }
    if (msg.member === 'GetCapabilities') {
      this.bus.send(Message.newMethodReturn(msg, 'as', [this.capabilities]));
    } else if (msg.member === 'Notify') {
      const [appName, replacesId, icon, summary, body, actions, hints, timeout] = msg.body as [
        string, number, string, string, string, string[], Record<string, { value: unknown }>, number,
      ];
      const id = replacesId || this.nextId++;
      const plainHints = Object.fromEntries(Object.entries(hints).map(([k, v]) => [k, v.value]));
      this.posted.push({ appName, replacesId, icon, summary, body, actions, hints: plainHints, timeout, id });
      this.bus.send(Message.newMethodReturn(msg, 'u', [id]));
    } else return false;
    return true;
  }
}
