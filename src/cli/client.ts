// splicectl's D-Bus client of org.spliced.Spliced1 (docs/dbus.md). Speaks only D-Bus: never imports the engine.
// D-Bus errors come back as SplicedErrors of the kind named by org.spliced.Spliced1.Error.<Kind>.

import { DBusError, Message, MessageType, type MessageBus, type Variant } from 'dbus-next';
import { DBUS_ERROR_PREFIX, isErrorKind, SplicedError } from '../errors';
import { connectBus } from '../bus/connect';
import { onConnectionLost } from '../bus/dbus-next-gaps';
import { BUS_NAME, JOB_INTERFACE, MANAGER_INTERFACE, MANAGER_PATH } from '../bus/names';

/** Wire values as dbus-next gives them: 't' arrives as a BigInt. */
type Wire = string | number | bigint | boolean | Wire[] | { [key: string]: Wire };

/** Why the bus (rather than spliced) answered with an error. */
const UNREACHABLE = new Set([
  'org.freedesktop.DBus.Error.ServiceUnknown',
  'org.freedesktop.DBus.Error.NameHasNoOwner',
  'org.freedesktop.DBus.Error.NoReply',
  'org.freedesktop.DBus.Error.Disconnected',
  'org.freedesktop.DBus.Error.UnknownObject',
]);

function fromDBusError(err: unknown): SplicedError {
  if (err instanceof SplicedError) return err;
  if (!(err instanceof DBusError)) return new SplicedError('Internal', err instanceof Error ? err.message : String(err));
  const kind = err.type.startsWith(DBUS_ERROR_PREFIX) ? err.type.slice(DBUS_ERROR_PREFIX.length) : '';
  if (isErrorKind(kind)) return new SplicedError(kind, err.text);
  if (UNREACHABLE.has(err.type)) return new SplicedError('Unavailable', `spliced is not reachable: ${err.text}`);
  if (err.type === 'org.freedesktop.DBus.Error.AccessDenied') return new SplicedError('PermissionDenied', err.text);
  return new SplicedError('Internal', `${err.type}: ${err.text}`);
}

export interface JobView {
  path: string;
  id: number;
  kind: string;
  target: string;
  state: string;
  progress: number;
  status: string;
  patches: string[];
  errorName: string;
  errorMessage: string;
}

export interface ManagerHandlers {
  /** A signal of org.spliced.Spliced1.Manager. */
  signal(member: string, signature: string, body: unknown[]): void;
  /** The Manager's PropertiesChanged: the changed properties' values. */
  propertiesChanged(changed: Record<string, Wire>): void;
  /** spliced's unique name on the bus, "" when it left. */
  ownerChanged(owner: string): void;
}

const FINISHED = new Set(['succeeded', 'failed']);

export class SplicedClient {
  private constructor(
    private readonly bus: MessageBus,
    private readonly disarm: () => void,
  ) {}

  /** Connect to the bus at `address` (tests, a private bus) or to the system bus; onLost: the connection broke. */
  static async connect(address: string | undefined, onLost: (error: SplicedError) => void): Promise<SplicedClient> {
    const bus = await connectBus(address);
    return new SplicedClient(bus, onConnectionLost(bus, onLost));
  }

  close(): void {
    this.disarm();
    this.bus.disconnect();
  }

  async managerProperties(): Promise<Record<string, Wire>> {
    return this.properties(MANAGER_PATH, MANAGER_INTERFACE);
  }

  async list(): Promise<Wire[][]> {
    const [rows] = await this.callManager('List', '', []);
    return rows as Wire[][];
  }

  async getPatch(id: string): Promise<Record<string, Wire>> {
    const [dict] = await this.callManager('GetPatch', 's', [id]);
    return unwrap(dict as Record<string, Variant>);
  }

  async history(patchId: string, limit: number): Promise<Wire[][]> {
    const [rows] = await this.callManager('GetHistory', 'su', [patchId, limit]);
    return rows as Wire[][];
  }

  /** Returns the job's object path. */
  async apply(file: string, options: Record<string, Variant>): Promise<string> {
    const [job] = await this.callManager('Apply', 'sa{sv}', [file, options]);
    return job as string;
  }

  /** The feed's answer: scheduled, joined, queued or covered (docs/dbus.md, Refresh). */
  async refresh(options: Record<string, Variant>): Promise<string> {
    const [answer] = await this.callManager('Refresh', 'a{sv}', [options]);
    return answer as string;
  }

  async revert(id: string, options: Record<string, Variant>): Promise<string> {
    const [job] = await this.callManager('Revert', 'sa{sv}', [id, options]);
    return job as string;
  }

  /**
   * Follow a job to its end, calling onChange on every change. Subscribes before reading the properties, so a job
   * that finishes in between is still seen (its object stays on the bus a while after Finished).
   */
  async followJob(path: string, onChange: (job: JobView) => void): Promise<JobView> {
    const jobRule = `type='signal',sender='${BUS_NAME}',path='${path}'`;
    const ownerRule = `type='signal',sender='org.freedesktop.DBus',member='NameOwnerChanged',arg0='${BUS_NAME}'`;
    let props: Record<string, Wire> = {};
    return new Promise<JobView>((resolve, reject) => {
      let settled = false;
      const finish = (outcome: JobView | SplicedError) => {
        settled = true;
        this.bus.removeListener('message', onMessage);
        if (outcome instanceof SplicedError) reject(outcome);
        else resolve(outcome);
      };
      const update = (changes: Record<string, Wire>) => {
        if (settled) return;
        props = { ...props, ...changes };
        const view = jobView(path, props);
        onChange(view);
        if (FINISHED.has(view.state)) finish(view);
      };
      const onMessage = (msg: Message) => {
        if (msg.type !== MessageType.SIGNAL) return;
        if (msg.member === 'NameOwnerChanged' && msg.body[0] === BUS_NAME && msg.body[2] === '') {
          finish(new SplicedError('Unavailable', 'spliced left the bus while the job was running'));
        } else if (msg.path === path && msg.member === 'PropertiesChanged' && msg.body[0] === JOB_INTERFACE) {
          update(unwrap(msg.body[1] as Record<string, Variant>));
        } else if (msg.path === path && msg.member === 'Finished') {
          const [state, patches, errorName, errorMessage] = msg.body as [string, string[], string, string];
          update({ State: state, Patches: patches, ErrorName: errorName, ErrorMessage: errorMessage });
        }
      };
      this.bus.on('message', onMessage);
      this.addMatch(jobRule)
        .then(() => this.addMatch(ownerRule))
        .then(() => this.properties(path, JOB_INTERFACE))
        .then(update, (err: unknown) => finish(fromDBusError(err)));
    });
  }

  /**
   * Deliver the Manager's signals and property changes, and spliced's coming and going, until close(); returns the
   * unique name of spliced now ("" while it is not on the bus). Only what spliced itself sent is delivered: on the
   * system bus anyone may send a signal to our connection, and a forged PatchApplied must not become an event.
   */
  async watchManager(handlers: ManagerHandlers): Promise<string> {
    let owner = '';
    this.bus.on('message', (msg: Message) => {
      if (msg.type !== MessageType.SIGNAL) return;
      if (msg.sender === 'org.freedesktop.DBus' && msg.member === 'NameOwnerChanged' && msg.body[0] === BUS_NAME) {
        owner = String(msg.body[2]);
        handlers.ownerChanged(owner);
      } else if (owner !== '' && msg.sender === owner && msg.path === MANAGER_PATH) {
        if (msg.interface === MANAGER_INTERFACE) handlers.signal(msg.member ?? '', msg.signature ?? '', msg.body);
        else if (msg.member === 'PropertiesChanged' && msg.body[0] === MANAGER_INTERFACE) {
          handlers.propertiesChanged(unwrap(msg.body[1] as Record<string, Variant>));
        }
      }
    });
    await this.addMatch(`type='signal',sender='${BUS_NAME}',path='${MANAGER_PATH}'`);
    await this.addMatch(`type='signal',sender='org.freedesktop.DBus',member='NameOwnerChanged',arg0='${BUS_NAME}'`);
    try {
      const [name] = await this.call('org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus', 'GetNameOwner', 's', [BUS_NAME]);
      owner = String(name);
    } catch (err) {
      if (!(err instanceof SplicedError && err.kind === 'Unavailable')) throw err;
    }
    return owner;
  }

  private callManager(member: string, signature: string, body: unknown[]): Promise<unknown[]> {
    return this.call(BUS_NAME, MANAGER_PATH, MANAGER_INTERFACE, member, signature, body);
  }

  private async properties(path: string, iface: string): Promise<Record<string, Wire>> {
    const [all] = await this.call(BUS_NAME, path, 'org.freedesktop.DBus.Properties', 'GetAll', 's', [iface]);
    return unwrap(all as Record<string, Variant>);
  }

  private async addMatch(rule: string): Promise<void> {
    await this.call('org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus', 'AddMatch', 's', [rule]);
  }

  private async call(
    destination: string,
    path: string,
    iface: string,
    member: string,
    signature: string,
    body: unknown[],
  ): Promise<unknown[]> {
    try {
      const reply = await this.bus.call(new Message({ destination, path, interface: iface, member, signature, body }));
      return reply?.body ?? [];
    } catch (err) {
      throw fromDBusError(err);
    }
  }
}

function unwrap(dict: Record<string, Variant>): Record<string, Wire> {
  return Object.fromEntries(Object.entries(dict).map(([k, v]) => [k, v.value as Wire]));
}

function jobView(path: string, p: Record<string, Wire>): JobView {
  return {
    path,
    id: Number(p.Id ?? 0),
    kind: String(p.Kind ?? ''),
    target: String(p.Target ?? ''),
    state: String(p.State ?? ''),
    progress: Number(p.Progress ?? 0),
    status: String(p.Status ?? ''),
    patches: (p.Patches as string[] | undefined) ?? [],
    errorName: String(p.ErrorName ?? ''),
    errorMessage: String(p.ErrorMessage ?? ''),
  };
}
