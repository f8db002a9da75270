// The drop directory (/var/lib/spliced/incoming): a livepatch module (.ko) or kernel source patch (.patch, .diff)
// written there is applied, one file at a time in name order, and removed once applied. A file spliced cannot use
// is moved to the quarantine directory with its reason beside it; nothing dropped is ever deleted unapplied.
// Files whose name starts with "." are still being written (write, then rename into place) and are left alone.

import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import { patchIdOf, type Engine, type EngineLog, type PatchRecord } from '../engine';
import { SplicedError } from '../errors';
import { spliceModuleName } from '../kernel/splice-modinfo';
import { quarantine } from './quarantine';

export interface DropDirOptions {
  incoming: string;
  quarantine: string;
  engine: Engine;
  log: EngineLog;
  /** A file is taken once its size has not changed for this long (a slow copy into the directory). */
  settleMs?: number;
  maxBytes?: number;
}

const ACCEPTED = /\.(ko|patch|diff)$/;

export class DropDir {
  private watcher: FSWatcher | null = null;
  /** Files handled one after another, in the order they were found (name order at start-up). */
  private chain: Promise<void> = Promise.resolve();
  private readonly seen = new Set<string>();
  private stopping = false;

  constructor(private readonly options: DropDirOptions) {}

  /** Resolves once the files already there are queued; they are then applied in name order. */
  async start(): Promise<void> {
    const { incoming, quarantine: quarantineDir, settleMs = 1000 } = this.options;
    fs.mkdirSync(incoming, { recursive: true, mode: 0o700 });
    fs.mkdirSync(quarantineDir, { recursive: true, mode: 0o700 });
    const initial: string[] = [];
    let ready = false;
    const watcher = watch(incoming, {
      depth: 0,
      ignored: (file) => file !== incoming && path.basename(file).startsWith('.'),
      awaitWriteFinish: { stabilityThreshold: settleMs, pollInterval: Math.min(100, settleMs) },
    });
    this.watcher = watcher;
    watcher.on('add', (file) => (ready ? this.enqueue(file) : initial.push(file)));
    // A new file under the name of one just taken can come as a change, when the watcher missed the removal.
    watcher.on('change', (file) => ready && this.enqueue(file));
    watcher.on('error', (err) => this.options.log.error({ dir: incoming }, `watching the drop directory: ${String(err)}`));
    await new Promise<void>((resolve) => watcher.once('ready', resolve));
    ready = true;
    for (const file of initial.sort()) this.enqueue(file);
  }

  /** Stops watching and waits for the file in hand; files not yet handled stay in the directory for next time. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.watcher?.close();
    await this.chain;
  }

  /** Resolves once every file found so far has been handled (for tests and orderly stops). */
  idle(): Promise<void> {
    return this.chain;
  }

  private enqueue(file: string): void {
    if (this.seen.has(file)) return;
    this.seen.add(file);
    this.chain = this.chain.then(() => this.handle(file)).finally(() => this.seen.delete(file));
  }

  private async handle(file: string): Promise<void> {
    const { engine, log } = this.options;
    if (this.stopping || !fs.existsSync(file)) return;
    if (!ACCEPTED.test(file)) {
      this.quarantine(file, new SplicedError('InvalidArgument', `${path.basename(file)} is neither a livepatch module (.ko) nor a source patch (.patch, .diff)`, { path: file }));
      return;
    }
    const already = this.alreadyApplied(file);
    if (already) {
      // Applied before a crash or restart came between the apply and the removal of the file.
      log.info({ path: file, patch: already.id }, 'dropped file is already applied; removing it');
      fs.rmSync(file, { force: true });
      return;
    }
    const job = await engine.apply(file, { origin: 'drop-dir' }).done;
    if (job.state === 'succeeded') {
      log.info({ path: file, patch: job.result!.patches[0]?.id }, 'dropped file applied; removing it');
      fs.rmSync(file, { force: true });
    } else if (this.stopping || job.error!.kind === 'Disabled') {
      // Nothing is wrong with the file: it stays for the next start.
      log.warn({ path: file, kind: job.error!.kind }, `dropped file left in place: ${job.error!.message}`);
    } else {
      this.quarantine(file, job.error!);
    }
  }

  /** The applied patch this file already is: a module by its sha256, a source patch by the name its module gets. */
  private alreadyApplied(file: string): PatchRecord | undefined {
    const sha256 = createHash('sha256').update(fs.readFileSync(file)).digest('hex');
    const matches = file.endsWith('.ko')
      ? (p: PatchRecord) => p.id === patchIdOf(sha256)
      : (p: PatchRecord) => p.name === spliceModuleName(sha256);
    return this.options.engine.list().find((p) => p.state === 'applied' && matches(p));
  }

  private quarantine(file: string, error: SplicedError): void {
    const moved = quarantine(file, this.options.quarantine, error);
    this.options.log.error({ path: file, quarantinedAs: moved, kind: error.kind }, `dropped file quarantined: ${error.message}`);
  }
}
