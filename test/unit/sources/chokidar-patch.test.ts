// chokidar, as patched by patches/chokidar/: a closed watcher stays closed. An event of a file watch it has closed can
// still reach that watch's listener, which re-creates the parent's entry and removes the file (chokidar's
// handler.js, _handleFile's listener); unpatched, the removal of "the only watched file" calls add(), which reopens the
// watcher and watches up the parent chain, an fs.watch nothing closes (seen holding drop-dir.test.js open).

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { it } from 'node:test';
import { watch } from 'chokidar';

/** What the listener of a closed file watch calls on chokidar's watcher when the file has gone. */
interface LateListener {
  _getWatchedDir(directory: string): unknown;
  _remove(directory: string, item: string): void;
}

const fsWatches = () => process.getActiveResourcesInfo().filter((kind) => kind === 'FSEventWrap').length;

it('an event of a closed watch arriving late does not reopen the watcher (patches/chokidar)', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'spliced-chokidar-'));
  try {
    const file = path.join(dir, 'fix.patch');
    writeFileSync(file, 'x');
    const before = fsWatches();
    const watcher = watch(file);
    await once(watcher, 'ready');
    await watcher.close();
    rmSync(file);
    const late = watcher as unknown as LateListener;
    late._getWatchedDir(dir);
    late._remove(dir, 'fix.patch');
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(watcher.closed, true, 'the watcher was reopened');
    assert.equal(fsWatches(), before, 'a watch is open after close');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
