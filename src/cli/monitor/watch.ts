// Follows spliced on the system bus for `splicectl monitor`: its signals and reboot state become events, in the
// order spliced sent them. Outlives spliced restarting (its name changes owner) and the bus itself restarting (the
// connection breaks: reconnect with a growing pause).

import type { SplicedError } from '../../errors';
import { SplicedClient } from '../client';
import { eventOfSignal, NO_REBOOT, nextRebootState, rebootEvent, withPatchDetails, type MonitorEvent, type RebootState } from './events';

export interface WatchOptions {
  /** The bus spliced is on (tests, a private bus); the system bus when absent. */
  address: string | undefined;
  onEvent: (e: MonitorEvent) => void;
  /** One line for people about the watch itself (lost and found connections). */
  warn: (message: string) => void;
}

/** Pauses between reconnection attempts double from the first to the last. */
const RETRY_FIRST_MS = 250;
const RETRY_LAST_MS = 5000;

export class SplicedWatch {
  private client: SplicedClient | null = null;
  private spliced = '';
  private reboot: RebootState = NO_REBOOT;
  /** Events leave in arrival order, though an `applied` waits for its patch's CVEs. */
  private queue: Promise<void> = Promise.resolve();
  private stopped = false;
  private retry: NodeJS.Timeout | undefined;

  constructor(private readonly options: WatchOptions) {}

  /** The first connection; fails (Unavailable) when there is no bus to watch. */
  async start(): Promise<void> {
    await this.connect(false);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retry);
    this.client?.close();
    this.client = null;
  }

  /** GetPatch on the current connection (for "Show details"). */
  getPatch(id: string): Promise<Record<string, unknown>> {
    if (this.client === null) return Promise.reject(new Error('not connected to the bus'));
    return this.client.getPatch(id);
  }

  /** announce: spliced being there is news (it is not at the first connection). */
  private async connect(announce: boolean): Promise<void> {
    const client = await SplicedClient.connect(this.options.address, (lost) => this.lost(client, lost));
    try {
      const owner = await client.watchManager({
        signal: (member, signature, body) => {
          const e = eventOfSignal(member, signature, body, new Date());
          if (e?.event === 'applied') {
            // Asked now, not when the queue gets there: the patch record is freshest now.
            const details = client.getPatch(e.id).catch(() => ({}));
            this.enqueue(async () => withPatchDetails(e, await details));
          } else if (e !== null) this.enqueue(async () => e);
        },
        propertiesChanged: (changed) => this.rebootChanged(changed),
        ownerChanged: (name) => this.ownerChanged(client, name),
      });
      this.client = client;
      this.ownerChanged(client, owner, announce);
    } catch (err) {
      client.close();
      throw err;
    }
  }

  private ownerChanged(client: SplicedClient, owner: string, announce = true): void {
    const was = this.spliced;
    this.spliced = owner;
    if (was === '' && owner !== '') {
      if (announce) this.enqueue(async () => ({ event: 'spliced-started', at: new Date() }));
      // A restarted spliced may need a reboot: read its state rather than wait for a change. Taken as it arrives,
      // like the PropertiesChanged around it, so an older answer cannot overwrite a newer change in the queue.
      client.managerProperties().then(
        (all) => this.rebootChanged(all),
        () => undefined,
      );
    } else if (was !== '' && owner === '') this.enqueue(async () => ({ event: 'spliced-stopped', at: new Date() }));
  }

  private rebootChanged(changed: Record<string, unknown>): void {
    const next = nextRebootState(this.reboot, changed);
    const e = rebootEvent(this.reboot, next, new Date());
    this.reboot = next;
    if (e !== null) this.enqueue(async () => e);
  }

  private enqueue(make: () => Promise<MonitorEvent | null>): void {
    this.queue = this.queue.then(make).then((e) => {
      if (e !== null && !this.stopped) this.options.onEvent(e);
    });
  }

  private lost(client: SplicedClient, error: SplicedError): void {
    if (this.stopped || this.client !== client) return;
    client.close();
    this.client = null;
    if (this.spliced !== '') this.ownerChanged(client, '');
    this.options.warn(`${error.message}; reconnecting`);
    this.reconnect(RETRY_FIRST_MS);
  }

  private reconnect(pauseMs: number): void {
    this.retry = setTimeout(() => {
      this.connect(true).then(
        () => this.options.warn('connected to the bus again'),
        () => {
          if (!this.stopped) this.reconnect(Math.min(pauseMs * 2, RETRY_LAST_MS));
        },
      );
    }, pauseMs);
  }
}
