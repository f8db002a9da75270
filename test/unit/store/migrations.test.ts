import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { migrate, MIGRATIONS, SCHEMA_VERSION, Store } from '../../../src/store';

function tempDb(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spliced-store-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, 'spliced.db');
}

function tables(db: Database.Database): string[] {
  return (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[])
    .map((r) => r.name)
    .filter((name) => !name.startsWith('sqlite_'));
}

describe('migrations', () => {
  it('numbers migrations 1, 2, … without gaps', () => {
    assert.deepEqual(
      MIGRATIONS.map((m) => m.version),
      MIGRATIONS.map((_, i) => i + 1),
    );
  });

  it('creates the newest schema on a fresh database, in WAL mode with synchronous=FULL', () => {
    const file = tempDb();
    Store.open(file).close();
    const db = new Database(file);
    after(() => db.close());
    assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    assert.deepEqual(tables(db), ['events', 'intents', 'patches', 'sessions', 'stack']);
  });

  it('upgrades a version-1 database with data, keeping the data', () => {
    const file = tempDb();
    const db = new Database(file);
    assert.deepEqual(migrate(db, 1), [1]);
    db.prepare(
      `INSERT INTO patches (id, sha256, name, origin, kernel_release, kernel_build_id, module_file, status, added_at)
       VALUES ('abc', 'abcdef', 'p', 'dbus', '6.1.0-56-amd64', 'b1', 'abcdef.ko', 'applied', '2026-01-01T00:00:00Z')`,
    ).run();
    db.prepare("INSERT INTO stack VALUES ('6.1.0-56-amd64', 'b1', 1, 'abc')").run();
    db.close();

    const store = Store.open(file);
    after(() => store.close());
    const patch = store.patch('abc')!;
    assert.equal(patch.status, 'applied');
    assert.equal(patch.heldReason, null);
    assert.deepEqual(store.stack({ release: '6.1.0-56-amd64', buildId: 'b1' }), [{ patchId: 'abc', position: 1 }]);
    assert.deepEqual(store.pendingIntents(), []);
  });

  it('is a no-op on an up-to-date database', () => {
    const db = new Database(':memory:');
    after(() => db.close());
    assert.deepEqual(migrate(db), MIGRATIONS.map((m) => m.version));
    assert.deepEqual(migrate(db), []);
  });

  it('refuses a database from a newer spliced', () => {
    const file = tempDb();
    const db = new Database(file);
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    assert.throws(() => Store.open(file), /newer than this spliced understands/);
  });
});
