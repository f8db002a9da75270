// The drop directory (/var/lib/spliced/incoming): a livepatch module (.ko) or kernel source patch (.patch, .diff)
// written there is applied, one file at a time in name order, and removed once applied. A file spliced cannot use
// is moved to the quarantine directory with its reason beside it; nothing dropped is ever deleted unapplied.
// Files whose name starts with "." are still being written (write, then rename into place) and are left alone.
// Each file is opened once, without following a symbolic link, and must be a regular file owned by root, writable by
// no one else and within max_input_size; what was read is what is hashed, built and applied. Removal and quarantine
// act on the name only while it still holds that same file (docs/files.md).

import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import { patchIdOf, type Engine, type EngineLog, type PatchRecord } from '../engine';
import { asSplicedError, SplicedError } from '../errors';
import { spliceModuleName } from '../kernel/splice-modinfo';
import { quarantine } from './quarantine';
import { identityOf, readNamedFile, sameIdentity, type FileIdentity } from './read-once';

export interface DropDirOptions {
  incoming: string;
  quarantine: string;
  engine: Engine;
  log: EngineLog;
  /** A file is taken once its size has not changed for this long (a slow copy into the directory). */
  settleMs?: number;
  /** Largest file taken (max_input_size); a larger one is quarantined unread. */
  maxBytes: number;
}

const ACCEPTED = /\.(ko|patch|diff)$/;

export class DropDir {
  private watcher: FSWatcher | null = null;
  /** Files handled one after another, in the order they were found (name order at start-up). Never rejects. */
  private chain: Promise<void> = Promise.resolve();
  private readonly seen = new Set<string>();
  /** Files that could not even be quarantined, as they were then: skipped (and not logged again) until they change. */
  private readonly stuck = new Map<string, FileIdentity>();
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
      // A symbolic link is reported as itself (and then refused), never watched through.
      followSymlinks: false,
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
    this.chain = this.chain.then(async () => {
      let handled: FileIdentity | null = null;
      try {
        handled = await this.handle(file);
      } catch (err) {
        // Nothing gets past the loop: the next file still gets its turn.
        this.options.log.error({ path: file }, `dropped file left in place: ${asSplicedError(err).message}`);
      } finally {
        this.seen.delete(file);
      }
      // A file written under the same name while this one was in hand (its events came while it was seen) is next.
      const now = lstatOrNull(file);
      if (handled && now && !this.stopping && !sameIdentity(handled, identityOf(now))) this.enqueue(file);
    });
  }

  /** Handles the file at `file`; returns the identity of what it handled, or null if it left nothing to compare. */
  private async handle(file: string): Promise<FileIdentity | null> {
    const { engine, log, maxBytes } = this.options;
    const found = lstatOrNull(file);
    if (this.stopping || found === null) return null;
    const seenAs = identityOf(found);
    const stuck = this.stuck.get(file);
    if (stuck && sameIdentity(stuck, seenAs)) return seenAs;
    if (!ACCEPTED.test(file)) {
      const reason = `${path.basename(file)} is neither a livepatch module (.ko) nor a source patch (.patch, .diff)`;
      this.quarantine(file, seenAs, new SplicedError('InvalidArgument', reason, { path: file }));
      return seenAs;
    }
    let content: Buffer;
    let identity: FileIdentity;
    try {
      ({ content, identity } = await readNamedFile(file, { maxBytes, noFollow: true, rootOwned: true }));
    } catch (err) {
      const error = asSplicedError(err);
      if (error.details.code === 'ENOENT') {
        log.info({ path: file }, 'dropped file is gone before it was read; skipped');
        return null;
      }
      this.quarantine(file, seenAs, error);
      return seenAs;
    }
    const already = this.alreadyApplied(file, content);
    if (already) {
      // Applied before a crash or restart came between the apply and the removal of the file.
      log.info({ path: file, patch: already.id }, 'dropped file is already applied; removing it');
      this.remove(file, identity);
      return identity;
    }
    const job = await engine.apply({ content, name: file }, { origin: 'drop-dir' }).done;
    if (job.state === 'succeeded') {
      log.info({ path: file, patch: job.result!.patches[0]?.id }, 'dropped file applied; removing it');
      this.remove(file, identity);
    } else if (this.stopping || job.error!.kind === 'Disabled' || job.error!.kind === 'NoSpace' || engine.status().state === 'failed') {
      // Nothing is wrong with the file (spliced is stopping, the kill switch is set, the state directory is full,
      // spliced could not start): it stays for the next start, not in quarantine.
      log.warn({ path: file, kind: job.error!.kind }, `dropped file left in place: ${job.error!.message}`);
    } else {
      this.quarantine(file, identity, job.error!);
    }
    return identity;
  }

  /** The applied patch this content already is: a module by its sha256, a source patch by the name its module gets. */
  private alreadyApplied(file: string, content: Buffer): PatchRecord | undefined {
    const sha256 = createHash('sha256').update(content).digest('hex');
    const matches = file.endsWith('.ko')
      ? (p: PatchRecord) => p.id === patchIdOf(sha256)
      : (p: PatchRecord) => p.name === spliceModuleName(sha256);
    return this.options.engine.list().find((p) => p.state === 'applied' && matches(p));
  }

  /** Whether `file` still names the file handled; if not, it was replaced meanwhile and the new one waits its turn. */
  private stillThere(file: string, identity: FileIdentity): boolean {
    const now = lstatOrNull(file);
    if (now && sameIdentity(identity, identityOf(now))) return true;
    this.options.log.info({ path: file }, 'dropped file was replaced or removed while it was handled; the name is left as it is');
    return false;
  }

  private remove(file: string, identity: FileIdentity): void {
    if (this.stillThere(file, identity)) fs.rmSync(file, { force: true });
  }

  private quarantine(file: string, identity: FileIdentity, error: SplicedError): void {
    if (!this.stillThere(file, identity)) return;
    const { log } = this.options;
    try {
      const moved = quarantine(file, this.options.quarantine, error);
      this.stuck.delete(file);
      log.error({ path: file, quarantinedAs: moved, kind: error.kind }, `dropped file quarantined: ${error.message}`);
    } catch (err) {
      this.stuck.set(file, identity);
      log.error(
        { path: file, kind: error.kind },
        `cannot quarantine the dropped file (${(err as Error).message}); it stays and is skipped until it changes. ` +
          `It was refused: ${error.message}`,
      );
    }
  }
}

function lstatOrNull(file: string): fs.Stats | null {
  try {
    return fs.lstatSync(file);
  } catch {
    return null;
  }
}
