// Numbered schema migrations. The database's `user_version` is the number of the last migration applied; each
// migration runs in its own transaction, so a crash leaves the schema at a whole step. Never edit a released
// migration: append a new one.

import type Database from 'better-sqlite3';
import { SplicedError } from '../errors';

export interface Migration {
  version: number;
  description: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'patches, the applied stack per kernel build, event history',
    sql: `
      CREATE TABLE patches (
        id TEXT PRIMARY KEY,
        sha256 TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        origin TEXT NOT NULL CHECK (origin IN ('drop-dir', 'feed', 'dbus', 'tool')),
        kernel_release TEXT NOT NULL,
        kernel_build_id TEXT NOT NULL,
        description TEXT NOT NULL DEFAULT '',
        cves TEXT NOT NULL DEFAULT '[]',
        version TEXT,
        functions TEXT NOT NULL DEFAULT '[]',
        module_file TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('new', 'applied', 'reverted', 'failed', 'superseded')),
        added_at TEXT NOT NULL,
        applied_at TEXT,
        last_error_kind TEXT,
        last_error_message TEXT
      );
      CREATE TABLE stack (
        kernel_release TEXT NOT NULL,
        kernel_build_id TEXT NOT NULL,
        position INTEGER NOT NULL,
        patch_id TEXT NOT NULL UNIQUE REFERENCES patches(id),
        PRIMARY KEY (kernel_release, kernel_build_id, position)
      );
      CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        kind TEXT NOT NULL,
        patch_id TEXT NOT NULL,
        patch_name TEXT NOT NULL,
        kernel_release TEXT NOT NULL,
        boot_id TEXT NOT NULL,
        reason TEXT,
        requested_by TEXT
      );
      CREATE INDEX events_by_patch ON events (patch_id, seq);
    `,
  },
  {
    version: 2,
    description: 'intents around kernel actions, daemon sessions per boot, crash-guard holds',
    sql: `
      CREATE TABLE intents (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        action TEXT NOT NULL CHECK (action IN ('apply', 'revert')),
        patch_id TEXT NOT NULL REFERENCES patches(id),
        boot_id TEXT NOT NULL,
        requested_by TEXT,
        created_at TEXT NOT NULL
      );
      CREATE TABLE sessions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        boot_id TEXT NOT NULL,
        started_at TEXT NOT NULL,
        alive_at TEXT NOT NULL,
        clean_stop_at TEXT
      );
      ALTER TABLE patches ADD COLUMN held_reason TEXT;
    `,
  },
];

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1].version;

/** Bring the database up to `target` (default: the newest schema). Returns the versions applied. */
export function migrate(db: Database.Database, target: number = SCHEMA_VERSION): number[] {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > SCHEMA_VERSION) {
    throw new SplicedError(
      'Internal',
      `the database schema is version ${current}, newer than this spliced understands (${SCHEMA_VERSION}); ` +
        'refusing to touch it (was spliced downgraded?)',
    );
  }
  const applied: number[] = [];
  for (const migration of MIGRATIONS) {
    if (migration.version <= current || migration.version > target) continue;
    db.transaction(() => {
      db.exec(migration.sql);
      // PRAGMA takes no bound parameters; the version is our own integer.
      db.pragma(`user_version = ${migration.version}`);
    })();
    applied.push(migration.version);
  }
  return applied;
}
