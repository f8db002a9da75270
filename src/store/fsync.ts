// Durability on disk: what is named after a rename must already be there after a power cut.
import * as fs from 'node:fs';

/** fsync a file's data, or a directory's entries, by path. */
export function fsyncPath(file: string): void {
  const fd = fs.openSync(file, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
