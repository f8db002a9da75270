// Reads a file the kernel generates (sysfs, procfs) to its end. What read() delivers there is not what stat says: a
// sysfs binary attribute such as /sys/kernel/btf/<module> gives at most a page per read, and Node's
// fs.promises.readFile takes the first short read of a file it believes smaller than 512 KiB for its end (in a Debian
// 6.1 guest it returned 4 KiB of ext4's 139 KiB BTF). So: read until read() returns nothing.

import { open } from 'node:fs/promises';

const PAGE = 4096;

export async function readKernelFile(path: string): Promise<Buffer> {
  const file = await open(path, 'r');
  try {
    // One read past the stated size tells the end; grown by doubling if the file is longer than stated.
    let buffer = Buffer.allocUnsafe((await file.stat()).size + PAGE);
    let length = 0;
    for (;;) {
      if (length === buffer.length) {
        const larger = Buffer.allocUnsafe(buffer.length * 2);
        buffer.copy(larger);
        buffer = larger;
      }
      const { bytesRead } = await file.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) return buffer.subarray(0, length);
      length += bytesRead;
    }
  } finally {
    await file.close();
  }
}
