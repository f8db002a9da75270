// Posts monitor events as desktop notifications through org.freedesktop.Notifications on the user's session bus
// (the Desktop Notifications Specification). The server is another program of the session, maybe absent, hung or
// broken: every call has a deadline, its answers are checked, and nothing it does ends the monitor.

import { Message, MessageType, Variant, type MessageBus } from 'dbus-next';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { SplicedError } from '../../errors';
import { connectBus } from '../../bus/connect';
import { onConnectionLost } from '../../bus/dbus-next-gaps';
import type { MonitorEvent } from './events';
import {
  APP_NAME,
  DESKTOP_ENTRY,
  DETAILS_ACTIONS,
  detailsNotification,
  notificationOf,
  type Notification,
  type NotificationServer,
} from './render';

const SERVER = 'org.freedesktop.Notifications';
const SERVER_PATH = '/org/freedesktop/Notifications';
/** Let the server decide how long a notification stays. */
const SERVER_DEFAULT_TIMEOUT = -1;
/** A hung server must not pile up our events: beyond this many waiting, new ones are dropped (and said so). */
const MAX_WAITING = 16;
/** Notifications whose actions we still answer; older ones are forgotten. */
const MAX_REMEMBERED = 64;

export interface DesktopOptions {
  /** The session bus address: $DBUS_SESSION_BUS_ADDRESS, else $XDG_RUNTIME_DIR/bus. */
  address: string;
  /** How long the server may take to answer one call. */
  timeoutMs: number;
  warn: (message: string) => void;
  /** "Show details" was chosen on an event's notification: the text to show instead, or null for none. */
  details: (e: MonitorEvent) => Promise<string | null>;
}

/** The session bus of this user, as D-Bus clients find it; Unavailable when there is none. */
export function sessionBusAddress(env: NodeJS.ProcessEnv): string {
  if (env.DBUS_SESSION_BUS_ADDRESS) return env.DBUS_SESSION_BUS_ADDRESS;
  const socket = env.XDG_RUNTIME_DIR ? path.join(env.XDG_RUNTIME_DIR, 'bus') : '';
  if (socket !== '' && existsSync(socket)) return `unix:path=${socket}`;
  throw new SplicedError('Unavailable', 'no session bus: DBUS_SESSION_BUS_ADDRESS is not set and $XDG_RUNTIME_DIR/bus does not exist');
}

interface Shown {
  /** The unique name of the server that showed it: only it may invoke its actions. */
  server: string;
  event: MonitorEvent;
}

export class DesktopNotifier {
  private bus: MessageBus | null = null;
  private queue: Promise<void> = Promise.resolve();
  private waiting = 0;
  private readonly shown = new Map<number, Shown>();

  private constructor(private readonly options: DesktopOptions) {}

  /** Connect to the session bus now, so that a missing one is an error at start, not a warning per event. */
  static async connect(options: DesktopOptions): Promise<DesktopNotifier> {
    const notifier = new DesktopNotifier(options);
    await notifier.connection();
    return notifier;
  }

  /** Show the event (if it is one for the desktop) once the notifications before it are done; never throws. */
  post(e: MonitorEvent): void {
    this.enqueue(`the ${e.event} event`, async (bus) => {
      const server = await this.capabilities(bus);
      const n = notificationOf(e, server);
      if (n === null) return;
      const shown = await this.notify(bus, n, 0);
      if (shown !== null && n.actions.length > 0) this.remember(shown.id, { server: shown.server, event: e });
    });
  }

  close(): void {
    this.bus?.disconnect();
    this.bus = null;
  }

  private enqueue(what: string, job: (bus: MessageBus) => Promise<void>): void {
    if (this.waiting >= MAX_WAITING) {
      this.options.warn(`no notification for ${what}: ${MAX_WAITING} are still waiting for the notification server`);
      return;
    }
    this.waiting++;
    this.queue = this.queue
      .then(async () => job(await this.connection()))
      .catch((err: unknown) => this.options.warn(`no notification for ${what}: ${err instanceof Error ? err.message : String(err)}`))
      .finally(() => this.waiting--);
  }

  private async connection(): Promise<MessageBus> {
    if (this.bus !== null) return this.bus;
    const bus = await connectBus(this.options.address);
    // A lost session bus is found again at the next notification.
    onConnectionLost(bus, (lost) => {
      if (this.bus !== bus) return;
      this.bus = null;
      this.shown.clear();
      bus.disconnect();
      this.options.warn(`session bus: ${lost.message}`);
    });
    bus.on('message', (msg: Message) => this.onSignal(msg));
    this.bus = bus;
    await this.call(bus, 'org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus', 'AddMatch', 's', [
      `type='signal',interface='${SERVER}',path='${SERVER_PATH}'`,
    ]);
    return bus;
  }

  /** Asked before every notification: the server may have been replaced since. An unreadable answer means none. */
  private async capabilities(bus: MessageBus): Promise<NotificationServer> {
    const reply = await this.call(bus, SERVER, SERVER_PATH, SERVER, 'GetCapabilities', '', []);
    const caps = Array.isArray(reply.body[0]) ? (reply.body[0] as unknown[]).filter((c) => typeof c === 'string') : [];
    return { actions: caps.includes('actions'), markup: caps.includes('body-markup') };
  }

  private async notify(bus: MessageBus, n: Notification, replacesId: number): Promise<{ id: number; server: string } | null> {
    const hints = { urgency: new Variant('y', n.urgency), 'desktop-entry': new Variant('s', DESKTOP_ENTRY) };
    const reply = await this.call(bus, SERVER, SERVER_PATH, SERVER, 'Notify', 'susssasa{sv}i', [
      APP_NAME,
      replacesId,
      n.icon,
      n.summary,
      n.body,
      n.actions,
      hints,
      SERVER_DEFAULT_TIMEOUT,
    ]);
    const id = reply.body[0];
    return typeof id === 'number' && Number.isInteger(id) && id > 0 && reply.sender ? { id, server: reply.sender } : null;
  }

  private remember(id: number, shown: Shown): void {
    this.shown.delete(id);
    this.shown.set(id, shown);
    if (this.shown.size > MAX_REMEMBERED) this.shown.delete(this.shown.keys().next().value as number);
  }

  /** ActionInvoked / NotificationClosed of a notification we posted, from the server that shows it; others are ignored. */
  private onSignal(msg: Message): void {
    if (msg.type !== MessageType.SIGNAL || msg.interface !== SERVER || msg.path !== SERVER_PATH) return;
    const [id, arg] = msg.body as [unknown, unknown];
    const shown = typeof id === 'number' ? this.shown.get(id) : undefined;
    if (shown === undefined || shown.server !== msg.sender) return;
    if (msg.member === 'NotificationClosed' && msg.signature === 'uu') this.shown.delete(id as number);
    if (msg.member === 'ActionInvoked' && msg.signature === 'us' && DETAILS_ACTIONS.includes(String(arg))) {
      // Once per notification: a server repeating the action cannot make us ask spliced again and again.
      this.shown.delete(id as number);
      this.enqueue(`the details of the ${shown.event.event} event`, async (bus) => {
        const text = await this.options.details(shown.event);
        if (text === null) return;
        const server = await this.capabilities(bus);
        const patch = 'id' in shown.event && shown.event.id ? shown.event.id : '';
        await this.notify(bus, detailsNotification(patch, text, server), id as number);
      });
    }
  }

  /** A method call with a deadline (dbus-next's own calls wait forever). */
  private async call(
    bus: MessageBus,
    destination: string,
    objectPath: string,
    iface: string,
    member: string,
    signature: string,
    body: unknown[],
  ): Promise<Message> {
    const reply = bus.call(new Message({ destination, path: objectPath, interface: iface, member, signature, body }));
    reply.catch(() => undefined); // answered after the deadline: nobody listens any more
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${destination} did not answer ${member} within ${this.options.timeoutMs} ms`)), this.options.timeoutMs);
    });
    try {
      const answer = await Promise.race([reply, deadline]);
      if (answer === null) throw new Error(`${destination} sent no reply to ${member}`);
      return answer;
    } catch (err) {
      if (err instanceof Error && 'type' in err) throw new Error(`${member}: ${String((err as { type: unknown }).type)}: ${err.message}`);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }
}
