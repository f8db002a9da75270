import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { isSplicedError } from '../../../src/errors';
import { ModuleStore, Store, type PatchRow } from '../../../src/store';

const KERNEL = { release: '6.1.0-56-amd64', buildId: 'b1' };

function patch(id: string): PatchRow {
  return {
    id,
    sha256: `${id}-sha`,
    name: `p_${id}`,
    origin: 'dbus',
    kernelRelease: KERNEL.release,
    kernelBuildId: KERNEL.buildId,
    description: '',
    cves: ['CVE-2025-1'],
    version: null,
    functions: [],
    moduleFile: `${id}.ko`,
    status: 'applied',
    addedAt: new Date().toISOString(),
    appliedAt: null,
    lastError: null,
    heldReason: null,
  };
}

function openStore(): Store {
  const store = Store.open(':memory:');
  after(() => store.close());
  return store;
}

describe('store', () => {
  it('round-trips a patch row', () => {
    const store = openStore();
    const row = { ...patch('a'), version: '6.1.159-1', functions: [{ object: 'vmlinux', name: 'f', sympos: 2 }] };
    store.insertPatch(row);
    assert.deepEqual(store.patch('a'), row);
  });

  it('keeps the stack order per kernel build; pushing again moves a patch to the top', () => {
    const store = openStore();
    for (const id of ['a', 'b', 'c']) {
      store.insertPatch(patch(id));
      store.pushOnStack(id, KERNEL);
    }
    store.pushOnStack('a', KERNEL);
    assert.deepEqual(store.stack(KERNEL).map((e) => e.patchId), ['b', 'c', 'a']);
    store.removeFromStack('c');
    assert.deepEqual(store.stack(KERNEL).map((e) => e.patchId), ['b', 'a']);
    assert.deepEqual(store.stack({ ...KERNEL, buildId: 'other' }), []);
  });

  it('rolls back every write of a failed transaction', () => {
    const store = openStore();
    store.insertPatch(patch('a'));
    assert.throws(() =>
      store.transaction(() => {
        store.pushOnStack('a', KERNEL);
        store.insertPatch(patch('a')); // duplicate id
      }),
    );
    assert.deepEqual(store.stack(KERNEL), []);
  });

  it('finds the last session of the previous boot, and whether it stopped cleanly', () => {
    const store = openStore();
    assert.equal(store.lastSessionOfPreviousBoot('boot2'), undefined);
    const first = store.startSession('boot1');
    store.markCleanStop(first.id);
    const second = store.startSession('boot1');
    store.startSession('boot2');
    const previous = store.lastSessionOfPreviousBoot('boot2')!;
    assert.equal(previous.id, second.id);
    assert.equal(previous.cleanStopAt, null);
    assert.equal(store.lastSessionOfBoot('boot2')!.bootId, 'boot2');
  });

  it('returns history newest first, optionally for one patch', () => {
    const store = openStore();
    store.insertPatch(patch('a'));
    store.insertPatch(patch('b'));
    store.addEvent({ kind: 'applied', patch: store.patch('a')!, bootId: 'b' });
    store.addEvent({ kind: 'applied', patch: store.patch('b')!, bootId: 'b' });
    store.addEvent({ kind: 'reverted', patch: store.patch('a')!, bootId: 'b', requestedBy: 'uid 0' });
    assert.deepEqual(store.history().map((e) => `${e.kind} ${e.patchId}`), ['reverted a', 'applied b', 'applied a']);
    assert.deepEqual(store.history({ patchId: 'a', limit: 1 }).map((e) => e.requestedBy), ['uid 0']);
  });
});

describe('module store', () => {
  it('keeps one copy per content, named by its sha256', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spliced-modules-'));
    after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const modules = new ModuleStore(path.join(dir, 'modules'));
    const x = modules.put(Buffer.from('module bytes'));
    const y = modules.put(Buffer.from('module bytes'));
    assert.equal(x.sha256, createHash('sha256').update('module bytes').digest('hex'));
    assert.equal(x.path, y.path);
    assert.equal(path.basename(x.path), `${x.sha256}.ko`);
    assert.equal(fs.readFileSync(x.path, 'utf8'), 'module bytes');
    assert.deepEqual(fs.readdirSync(path.join(dir, 'modules')), [`${x.sha256}.ko`]);
  });

  it('replaces a damaged copy on put(), and verify() refuses one that no longer matches its name', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spliced-modules-'));
    after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const modules = new ModuleStore(path.join(dir, 'modules'));
    const stored = modules.put(Buffer.from('module bytes'));
    assert.equal(modules.verify(stored.file, stored.sha256, 'x'), stored.path);
    fs.writeFileSync(stored.path, 'garbage');
    assert.throws(
      () => modules.verify(stored.file, stored.sha256, 'x'),
      (err) => isSplicedError(err, 'CorruptModule') && /does not match its sha256/.test(err.message),
    );
    modules.put(Buffer.from('module bytes'));
    assert.equal(fs.readFileSync(stored.path, 'utf8'), 'module bytes');
    fs.rmSync(stored.path);
    assert.throws(() => modules.verify(stored.file, stored.sha256, 'x'), (err) => isSplicedError(err, 'UnreadableModule'));
  });

  it('removes at start the temporary copy of a put() a crash cut short, and nothing else', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spliced-modules-'));
    after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const kept = new ModuleStore(path.join(dir, 'modules')).put(Buffer.from('module bytes'));
    fs.writeFileSync(`${kept.path.replace(/[0-9a-f]{64}/, 'a'.repeat(64))}.tmp-4242`, 'half a module');
    fs.writeFileSync(path.join(dir, 'modules', 'notes.tmp-1'), 'not ours to judge');
    new ModuleStore(path.join(dir, 'modules'));
    assert.deepEqual(fs.readdirSync(path.join(dir, 'modules')).sort(), [path.basename(kept.path), 'notes.tmp-1']);
  });
});

describe('a damaged database', () => {
  function dbDir(): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spliced-db-'));
    after(() => fs.rmSync(dir, { recursive: true, force: true }));
    return dir;
  }

  it('opens a sound database as it is', () => {
    const file = path.join(dbDir(), 'spliced.db');
    Store.open(file).close();
    const opened = Store.openOrSetAside(file);
    after(() => opened.store.close());
    assert.equal(opened.setAside, null);
  });

  for (const [what, damage] of [
    ['a file that is not a database at all', (file: string) => fs.writeFileSync(file, 'garbage '.repeat(2000))],
    [
      'a database whose pages were overwritten',
      (file: string) => {
        const fd = fs.openSync(file, 'r+');
        // Past the 100-byte header: the b-tree pages of the tables.
        fs.writeSync(fd, Buffer.alloc(4096, 0x5a), 0, 4096, 4096);
        fs.closeSync(fd);
      },
    ],
  ] as const) {
    it(`moves ${what} aside and starts a new one`, () => {
      const dir = dbDir();
      const file = path.join(dir, 'spliced.db');
      const store = Store.open(file);
      for (let i = 0; i < 50; i++) store.insertPatch(patch(`p${i}`));
      store.close();
      damage(file);
      const opened = Store.openOrSetAside(file);
      after(() => opened.store.close());
      assert.ok(opened.setAside, 'the damage was noticed');
      assert.match(path.basename(opened.setAside.path), /^spliced\.db\.corrupt-\d{8}T\d{6}Z$/);
      assert.ok(fs.existsSync(opened.setAside.path));
      assert.deepEqual(opened.store.allPatches(), []);
    });
  }
});

