// A JSON file a tree's cache entry keeps (objects.json, includes.json): read when there, else made and written
// atomically, so a reader never sees half of one and a crash leaves none.

import { promises as fs } from 'node:fs';

export async function cachedJson<T>(file: string, make: () => Promise<T>): Promise<T> {
  const kept = await fs
    .readFile(file, 'utf8')
    .then((text) => JSON.parse(text) as T)
    .catch(() => undefined);
  if (kept !== undefined) return kept;
  const made = await make();
  await fs.writeFile(`${file}.tmp`, JSON.stringify(made));
  await fs.rename(`${file}.tmp`, file);
  return made;
}
