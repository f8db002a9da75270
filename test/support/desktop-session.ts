// A desktop session for tests, made of Debian's own programs: Xvfb (a display without a screen), a session bus, and
// dunst showing notifications on that display; screenshots with ImageMagick's import. dunst rather than GNOME's
// notification-daemon: without a window manager, notification-daemon draws every notification at one place (only
// the first is seen), while dunst stacks them; and dunstctl can choose an action as a click would.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { stopChild } from './child';
import { PERMISSIVE_POLICY, startPrivateBus, type PrivateBus } from './private-bus';
import { meanBrightness } from './screenshot';

/** Adwaita's full-colour icons (the legacy set) with the app name before the summary, as desktops show them. */
const DUNSTRC = `[global]
    font = DejaVu Sans 10
    width = 560
    offset = 10x10
    format = "<b>%a: %s</b>\\n%b"
    icon_path = /usr/share/icons/Adwaita/48x48/legacy
    max_icon_size = 32
`;
const run = promisify(execFile);

export interface DesktopSession {
  /** DISPLAY of the Xvfb. */
  display: string;
  /** The session bus (DBUS_SESSION_BUS_ADDRESS). */
  bus: PrivateBus;
  /** Every Notify call on the session bus so far that the server answered, with the id it gave. */
  shown(): ShownNotification[];
  /** Choose the default action of the notification at `position` (0: the top one), as a click on it does. */
  click(position: number): Promise<void>;
  /** Close every notification shown so far (CloseNotification), as a user dismissing them. */
  closeAll(): Promise<void>;
  /** Save the whole screen as a PNG; resolves with the mean brightness, 0 (black: nothing shown) to 1. */
  screenshot(file: string): Promise<number>;
  stop(): Promise<void>;
}

export interface ShownNotification {
  appName: string;
  replacesId: number;
  icon: string;
  summary: string;
  body: string;
  actions: string[];
  id: number;
}

export async function startDesktopSession(): Promise<DesktopSession> {
  const home = mkdtempSync(path.join(tmpdir(), 'spliced-desktop-'));
  const runtime = path.join(home, 'runtime');
  mkdirSync(runtime, { mode: 0o700 });
  const children: ChildProcess[] = [];
  let bus: PrivateBus | undefined;
  const stop = async () => {
    for (const child of children.reverse()) await stopChild(child);
    await bus?.stop();
    rmSync(home, { recursive: true, force: true });
  };
  try {
    // -displayfd: Xvfb picks a free display and writes its number there once it accepts connections.
    const xvfb = spawn('Xvfb', ['-displayfd', '3', '-screen', '0', '1024x768x24', '-nolisten', 'tcp'], {
      stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
    });
    children.push(xvfb);
    const display = `:${(await firstLine(xvfb, 3, 'Xvfb')).trim()}`;
    bus = await startPrivateBus(PERMISSIVE_POLICY);
    // Everything on the session bus, to pair each Notify with the server's answer.
    const watch = spawn('busctl', [`--address=${bus.address}`, 'monitor', '--json=short'], { stdio: ['ignore', 'pipe', 'ignore'] });
    children.push(watch);
    let traffic = '';
    watch.stdout!.on('data', (d) => (traffic += d));
    const messages = () =>
      traffic
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as BusMessage);
    const env = { ...process.env, DISPLAY: display, DBUS_SESSION_BUS_ADDRESS: bus.address, HOME: home, XDG_RUNTIME_DIR: runtime };
    const dunstrc = path.join(home, 'dunstrc');
    writeFileSync(dunstrc, DUNSTRC);
    const server = spawn('dunst', ['-conf', dunstrc], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    children.push(server);
    let complaints = '';
    server.stderr!.on('data', (d) => (complaints += d));
    server.once('error', (err) => (complaints += err.message));
    const address = bus.address;
    const deadline = Date.now() + 15_000;
    for (;;) {
      const info = await run('gdbus', ['call', '--address', address, '--dest', 'org.freedesktop.Notifications', '--object-path',
        '/org/freedesktop/Notifications', '--method', 'org.freedesktop.Notifications.GetServerInformation']).catch(() => null);
      // Ready once the server answers, and the watch has seen it asked.
      if (info?.stdout.includes("'dunst'") && messages().some((m) => m.member === 'GetServerInformation')) break;
      if (Date.now() > deadline || server.exitCode !== null) throw new Error(`dunst did not start: ${complaints}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  const shown = (): ShownNotification[] => {
      const all = messages();
      return all.flatMap((call) => {
        if (call.type !== 'method_call' || call.member !== 'Notify') return [];
        const answer = all.find((m) => m.type === 'method_return' && m.reply_cookie === call.cookie && m.destination === call.sender);
        if (!answer) return [];
        const [appName, replacesId, icon, summary, body, actions] = call.payload.data as [string, number, string, string, string, string[]];
        return [{ appName, replacesId, icon, summary, body, actions, id: answer.payload.data[0] as number }];
      });
    };
    return {
      display,
      bus,
      shown,
      click: async (position) => {
        await run('dunstctl', ['action', String(position)], { env });
      },
      closeAll: async () => {
        for (const { id } of shown()) {
          await run('gdbus', ['call', '--address', address, '--dest', 'org.freedesktop.Notifications', '--object-path',
            '/org/freedesktop/Notifications', '--method', 'org.freedesktop.Notifications.CloseNotification', String(id)]);
        }
      },
      screenshot: async (file) => {
        await run('import', ['-display', display, '-window', 'root', file]);
        return meanBrightness(file);
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

interface BusMessage {
  type: string;
  member?: string;
  cookie: number;
  reply_cookie?: number;
  sender?: string;
  destination?: string;
  payload: { type: string; data: unknown[] };
}

function firstLine(child: ChildProcess, fd: number, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const stream = child.stdio[fd] as NodeJS.ReadableStream;
    stream.on('data', (d) => {
      text += d;
      if (text.includes('\n')) resolve(text.slice(0, text.indexOf('\n')));
    });
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`${what} exited with ${code} before it was ready`)));
  });
}
