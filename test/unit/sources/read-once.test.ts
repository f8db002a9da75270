import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { isSplicedError } from '../../../src/errors';
import { readNamedFile } from '../../../src/sources/read-once';

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spliced-read-once-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe('reading a file once', () => {
  it('reads a regular file whole, within the cap, following a link only when allowed', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'fix.ko');
    fs.writeFileSync(file, 'module bytes');
    fs.symlinkSync(file, path.join(dir, 'link.ko'));
    const read = await readNamedFile(path.join(dir, 'link.ko'), { maxBytes: 12 });
    assert.equal(read.content.toString(), 'module bytes');
    assert.equal(read.identity.ino, fs.statSync(file).ino);
    await assert.rejects(readNamedFile(path.join(dir, 'link.ko'), { maxBytes: 12, noFollow: true }), (err) =>
      isSplicedError(err, 'InvalidArgument') && /is a symbolic link/.test(err.message),
    );
    await assert.rejects(readNamedFile(file, { maxBytes: 11 }), (err) =>
      isSplicedError(err, 'InvalidArgument') && /is 12 bytes; at most 11/.test(err.message),
    );
  });

  it('names a missing file UnreadableModule with its errno code', async () => {
    await assert.rejects(readNamedFile(path.join(tempDir(), 'missing.ko'), { maxBytes: 10 }), (err) =>
      isSplicedError(err, 'UnreadableModule') && err.details.code === 'ENOENT',
    );
  });
});
