// spliced's persistent state: patches, the applied stack per kernel build (in order), intents around kernel actions,
// daemon sessions per boot, and the event history. SQLite in WAL mode with synchronous=FULL: an outcome that was
// reported must survive a power cut, because the next boot reapplies exactly what is recorded here.

import * as fs from 'node:fs';
import Database from 'better-sqlite3';
import { migrate } from './migrations';
import type { HistoryEvent, HistoryEventKind, HistoryQuery, PatchFunctionRecord, PatchOrigin, PatchRecord } from '../engine/types';

export type PatchStatus = 'new' | 'applied' | 'reverted' | 'failed' | 'superseded';

export interface KernelBuild {
  release: string;
  buildId: string;
}

/** What the store keeps of a patch: the record's stored fields, plus where its module lies and why it is held. */
export type PatchRow = Pick<
  PatchRecord,
  | 'id' | 'sha256' | 'name' | 'origin' | 'kernelRelease' | 'kernelBuildId' | 'description' | 'cves' | 'version'
  | 'functions' | 'addedAt' | 'appliedAt' | 'lastError'
> & {
  /** File name inside the module store. */
  moduleFile: string;
  status: PatchStatus;
  /** Set by the crash guard: the patch stays in the stack but is not reapplied at boot until applied again. */
  heldReason: string | null;
};

export interface StackEntry {
  patchId: string;
  position: number;
}

export type IntentAction = 'apply' | 'revert';

export interface Intent {
  id: number;
  action: IntentAction;
  patchId: string;
  bootId: string;
  requestedBy: string | null;
  createdAt: string;
}

export interface Session {
  id: number;
  bootId: string;
  startedAt: string;
  aliveAt: string;
  cleanStopAt: string | null;
}

export interface NewEvent {
  kind: HistoryEventKind;
  patch: Pick<PatchRow, 'id' | 'name' | 'kernelRelease'>;
  bootId: string;
  reason?: string | null;
  requestedBy?: string | null;
  at?: string;
}

interface RawPatch {
  id: string;
  sha256: string;
  name: string;
  origin: PatchOrigin;
  kernel_release: string;
  kernel_build_id: string;
  description: string;
  cves: string;
  version: string | null;
  functions: string;
  module_file: string;
  status: PatchStatus;
  added_at: string;
  applied_at: string | null;
  last_error_kind: string | null;
  last_error_message: string | null;
  held_reason: string | null;
}

function fromRaw(raw: RawPatch): PatchRow {
  return {
    id: raw.id,
    sha256: raw.sha256,
    name: raw.name,
    origin: raw.origin,
    kernelRelease: raw.kernel_release,
    kernelBuildId: raw.kernel_build_id,
    description: raw.description,
    cves: JSON.parse(raw.cves) as string[],
    version: raw.version,
    functions: JSON.parse(raw.functions) as PatchFunctionRecord[],
    moduleFile: raw.module_file,
    status: raw.status,
    addedAt: raw.added_at,
    appliedAt: raw.applied_at,
    lastError:
      raw.last_error_kind === null ? null : { kind: raw.last_error_kind, message: raw.last_error_message ?? '' },
    heldReason: raw.held_reason,
  };
}

export function nowIso(): string {
  return new Date().toISOString();
}

/** A damaged database that was moved aside at start (docs/files.md, "Recovery"). */
export interface SetAsideDatabase {
  /** Where the damaged file now lies: `<db>.corrupt-<UTC timestamp>`. */
  path: string;
  /** What SQLite said about it. */
  reason: string;
}

/** SQLite's words for a file that is not a sound database (as opposed to one it cannot open or write: disk, rights). */
const DAMAGE_CODES = new Set(['SQLITE_CORRUPT', 'SQLITE_NOTADB']);

class DamagedDatabase extends Error {}

function timestamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

export class Store {
  private readonly statements = new Map<string, Database.Statement>();

  private constructor(private readonly db: Database.Database) {}

  /** Prepared once per SQL text: preparing costs more than running these small queries. */
  private statement(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (statement === undefined) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  /**
   * Open the database at `path`, and if SQLite finds it damaged (not a database, or `PRAGMA quick_check` fails), move
   * it and its WAL aside to `<path>.corrupt-<timestamp>` and start a new, empty one; the caller rebuilds the record.
   */
  static openOrSetAside(path: string): { store: Store; setAside: SetAsideDatabase | null } {
    try {
      return { store: Store.open(path), setAside: null };
    } catch (err) {
      if (!(err instanceof DamagedDatabase)) throw err;
      const aside = `${path}.corrupt-${timestamp()}`;
      fs.renameSync(path, aside);
      for (const suffix of ['-wal', '-shm']) {
        if (fs.existsSync(path + suffix)) fs.renameSync(path + suffix, aside + suffix);
      }
      return { store: Store.open(path), setAside: { path: aside, reason: err.message } };
    }
  }

  /** Open (creating if needed), check and migrate the database at `path` (":memory:" for tests). */
  static open(path: string): Store {
    const db = new Database(path);
    try {
      Store.prepare(db);
    } catch (err) {
      db.close();
      const code = (err as { code?: string }).code;
      if (err instanceof DamagedDatabase || (code !== undefined && DAMAGE_CODES.has(code))) {
        throw new DamagedDatabase(`${path}: ${(err as Error).message}`);
      }
      throw err;
    }
    return new Store(db);
  }

  private static prepare(db: Database.Database): void {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    // The unit makes /tmp read-only (ProtectSystem=strict): SQLite's temporary tables and sorts stay in memory.
    db.pragma('temp_store = MEMORY');
    // Every page, cheaply (no index cross-check): a damaged disk shows here, not mid-way through a reapply.
    const check = db.pragma('quick_check', { simple: true });
    if (check !== 'ok') throw new DamagedDatabase(`quick_check: ${String(check)}`);
    migrate(db);
  }

  close(): void {
    this.db.close();
  }

  /** Run `fn` in one transaction: either every write in it is durable or none is. */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  // --- patches

  insertPatch(row: PatchRow): void {
    this.statement(
        `INSERT INTO patches (id, sha256, name, origin, kernel_release, kernel_build_id, description, cves, version,
           functions, module_file, status, added_at, applied_at, last_error_kind, last_error_message, held_reason)
         VALUES (@id, @sha256, @name, @origin, @kernelRelease, @kernelBuildId, @description, @cves, @version,
           @functions, @moduleFile, @status, @addedAt, @appliedAt, @lastErrorKind, @lastErrorMessage, @heldReason)`,
      )
      .run({
        ...row,
        cves: JSON.stringify(row.cves),
        functions: JSON.stringify(row.functions),
        lastErrorKind: row.lastError?.kind ?? null,
        lastErrorMessage: row.lastError?.message ?? null,
      });
  }

  patch(id: string): PatchRow | undefined {
    const raw = this.statement('SELECT * FROM patches WHERE id = ?').get(id) as RawPatch | undefined;
    return raw && fromRaw(raw);
  }

  patchesNamed(name: string): PatchRow[] {
    const rows = this.statement('SELECT * FROM patches WHERE name = ? ORDER BY added_at DESC').all(name) as RawPatch[];
    return rows.map(fromRaw);
  }

  allPatches(): PatchRow[] {
    const rows = this.statement('SELECT * FROM patches ORDER BY added_at DESC, id').all() as RawPatch[];
    return rows.map(fromRaw);
  }

  markApplied(id: string, functions: PatchFunctionRecord[], at: string): void {
    this.statement(
        `UPDATE patches SET status = 'applied', functions = ?, applied_at = ?, last_error_kind = NULL,
           last_error_message = NULL, held_reason = NULL WHERE id = ?`,
      )
      .run(JSON.stringify(functions), at, id);
  }

  markFailed(id: string, error: { kind: string; message: string }): void {
    this.statement(`UPDATE patches SET status = 'failed', last_error_kind = ?, last_error_message = ? WHERE id = ?`)
      .run(error.kind, error.message, id);
  }

  setStatus(id: string, status: 'reverted' | 'superseded'): void {
    this.statement('UPDATE patches SET status = ?, held_reason = NULL WHERE id = ?').run(status, id);
  }

  setHeld(id: string, reason: string | null): void {
    this.statement('UPDATE patches SET held_reason = ? WHERE id = ?').run(reason, id);
  }

  /** The origin of the latest request wins: a drop-dir patch applied again over D-Bus is now a D-Bus patch. */
  setOrigin(id: string, origin: PatchOrigin): void {
    this.statement('UPDATE patches SET origin = ? WHERE id = ?').run(origin, id);
  }

  // --- the applied stack, per kernel build, bottom (position 1) first

  stack(kernel: KernelBuild): StackEntry[] {
    return this.statement(
        `SELECT patch_id AS patchId, position FROM stack WHERE kernel_release = ? AND kernel_build_id = ?
         ORDER BY position`,
      )
      .all(kernel.release, kernel.buildId) as StackEntry[];
  }

  stackPosition(patchId: string): number | null {
    const row = this.statement('SELECT position FROM stack WHERE patch_id = ?').get(patchId) as
      | { position: number }
      | undefined;
    return row?.position ?? null;
  }

  /** Stack position of every patch that is in a stack (of any kernel build). */
  stackPositions(): Map<string, number> {
    const rows = this.statement('SELECT patch_id AS patchId, position FROM stack').all() as StackEntry[];
    return new Map(rows.map((r) => [r.patchId, r.position]));
  }

  /** Put the patch on top of its kernel's stack (moving it there if it already was in it). */
  pushOnStack(patchId: string, kernel: KernelBuild): void {
    this.removeFromStack(patchId);
    const top = this.statement('SELECT MAX(position) AS top FROM stack WHERE kernel_release = ? AND kernel_build_id = ?')
      .get(kernel.release, kernel.buildId) as { top: number | null };
    this.statement('INSERT INTO stack (kernel_release, kernel_build_id, position, patch_id) VALUES (?, ?, ?, ?)')
      .run(kernel.release, kernel.buildId, (top.top ?? 0) + 1, patchId);
  }

  removeFromStack(patchId: string): void {
    this.statement('DELETE FROM stack WHERE patch_id = ?').run(patchId);
  }

  // --- intents: written before a kernel action, removed with the outcome in the same transaction

  addIntent(action: IntentAction, patchId: string, bootId: string, requestedBy: string | null): number {
    const info = this.statement('INSERT INTO intents (action, patch_id, boot_id, requested_by, created_at) VALUES (?, ?, ?, ?, ?)')
      .run(action, patchId, bootId, requestedBy, nowIso());
    return Number(info.lastInsertRowid);
  }

  removeIntent(id: number): void {
    this.statement('DELETE FROM intents WHERE id = ?').run(id);
  }

  pendingIntents(): Intent[] {
    return this.statement(
        `SELECT id, action, patch_id AS patchId, boot_id AS bootId, requested_by AS requestedBy,
           created_at AS createdAt FROM intents ORDER BY id`,
      )
      .all() as Intent[];
  }

  // --- daemon sessions: how the crash guard knows whether the previous boot ended cleanly

  startSession(bootId: string): Session {
    const at = nowIso();
    const info = this.statement('INSERT INTO sessions (boot_id, started_at, alive_at) VALUES (?, ?, ?)')
      .run(bootId, at, at);
    return { id: Number(info.lastInsertRowid), bootId, startedAt: at, aliveAt: at, cleanStopAt: null };
  }

  /** The latest daemon session of boot `bootId`, if the daemon ran before in this boot. */
  lastSessionOfBoot(bootId: string): Session | undefined {
    return this.statement(
        `SELECT id, boot_id AS bootId, started_at AS startedAt, alive_at AS aliveAt, clean_stop_at AS cleanStopAt
         FROM sessions WHERE boot_id = ? ORDER BY id DESC LIMIT 1`,
      )
      .get(bootId) as Session | undefined;
  }

  /** The last daemon session of the newest boot other than `bootId`. */
  lastSessionOfPreviousBoot(bootId: string): Session | undefined {
    return this.statement(
        `SELECT id, boot_id AS bootId, started_at AS startedAt, alive_at AS aliveAt, clean_stop_at AS cleanStopAt
         FROM sessions WHERE boot_id != ? ORDER BY id DESC LIMIT 1`,
      )
      .get(bootId) as Session | undefined;
  }

  markAlive(sessionId: number, at: string = nowIso()): void {
    this.statement('UPDATE sessions SET alive_at = ? WHERE id = ?').run(at, sessionId);
  }

  markCleanStop(sessionId: number): void {
    const at = nowIso();
    this.statement('UPDATE sessions SET alive_at = ?, clean_stop_at = ? WHERE id = ?').run(at, at, sessionId);
  }

  // --- history

  addEvent(event: NewEvent): void {
    this.statement(
        `INSERT INTO events (at, kind, patch_id, patch_name, kernel_release, boot_id, reason, requested_by)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        event.at ?? nowIso(),
        event.kind,
        event.patch.id,
        event.patch.name,
        event.patch.kernelRelease,
        event.bootId,
        event.reason ?? null,
        event.requestedBy ?? null,
      );
  }

  history(query: HistoryQuery = {}): HistoryEvent[] {
    const limit = query.limit ?? 100;
    const select = `SELECT seq, at, kind, patch_id AS patchId, patch_name AS patchName, kernel_release AS kernelRelease,
      boot_id AS bootId, reason, requested_by AS requestedBy FROM events`;
    return (
      query.patchId === undefined
        ? this.statement(`${select} ORDER BY seq DESC LIMIT ?`).all(limit)
        : this.statement(`${select} WHERE patch_id = ? ORDER BY seq DESC LIMIT ?`).all(query.patchId, limit)
    ) as HistoryEvent[];
  }

  /** Events of `kinds` for boot `bootId` at or after `since` (ISO time). */
  eventsSince(bootId: string, kinds: HistoryEventKind[], since: string): HistoryEvent[] {
    const placeholders = kinds.map(() => '?').join(', ');
    return this.statement(
        `SELECT seq, at, kind, patch_id AS patchId, patch_name AS patchName, kernel_release AS kernelRelease,
           boot_id AS bootId, reason, requested_by AS requestedBy FROM events
         WHERE boot_id = ? AND at >= ? AND kind IN (${placeholders}) ORDER BY seq`,
      )
      .all(bootId, since, ...kinds) as HistoryEvent[];
  }
}
