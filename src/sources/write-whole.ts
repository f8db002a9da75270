// A file written whole: the data goes to a hidden file beside it, then is renamed into place, so whoever opens the
// name (an admin, a watcher, spliced after a crash) reads all of it or the previous version, never a part. A failed
// write removes the hidden file and throws; a crash in between can leave only that hidden file.

import * as fs from 'node:fs';
import * as path from 'node:path';

export function writeWhole(file: string, data: string, mode: number): void {
  const partial = path.join(path.dirname(file), `.${path.basename(file)}.partial`);
  try {
    fs.writeFileSync(partial, data, { mode });
    fs.renameSync(partial, file);
  } catch (err) {
    fs.rmSync(partial, { force: true });
    throw err;
  }
}
