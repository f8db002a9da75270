// The fallback for machines without spliced's apt hook (removed, or apt run in a way that skips it): a watch on
// apt's lists directory. `apt update` rewrites the lists file by file, so the feed is asked once, `settleMs` after
// the last change; a refresh the hook already started after that change covers it (RefreshGate).

import * as path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import type { EngineLog } from '../../engine/context';

export interface AptListsWatchOptions {
  /** apt's lists directory (/var/lib/apt/lists: config apt_lists_dir). */
  dir: string;
  settleMs?: number;
  log: EngineLog;
  /** Called once per burst of changes with the time of its last change. */
  onChanged: (lastChange: Date) => void;
}

export class AptListsWatch {
  private watcher: FSWatcher | null = null;
  private timer: NodeJS.Timeout | null = null;
  private lastChange = new Date(0);

  constructor(private readonly options: AptListsWatchOptions) {}

  async start(): Promise<void> {
    const { dir } = this.options;
    const watcher = watch(dir, {
      depth: 0,
      ignoreInitial: true,
      followSymlinks: false,
      // apt's lock is opened at every run, changed or not; partial/ holds downloads in flight.
      ignored: (file) => ['lock', 'partial', 'auxfiles'].includes(path.basename(file)),
    });
    this.watcher = watcher;
    const changed = () => this.changed();
    watcher.on('add', changed).on('change', changed).on('unlink', changed);
    watcher.on('error', (err) => this.options.log.warn({ dir }, `watching apt's lists: ${String(err)}`));
    await new Promise<void>((resolve) => watcher.once('ready', resolve));
  }

  async stop(): Promise<void> {
    if (this.timer !== null) clearTimeout(this.timer);
    await this.watcher?.close();
  }

  private changed(): void {
    this.lastChange = new Date();
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.options.onChanged(this.lastChange);
    }, this.options.settleMs ?? 10_000);
  }
}
