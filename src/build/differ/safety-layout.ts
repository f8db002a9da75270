// Type layouts as the compiled code sees them: `pahole --btf_encode_detached` encodes each object's DWARF as BTF (pahole is already a
// dependency: dwarves), read by src/elf/btf.ts. A struct or union whose size or member offsets, sizes or types differ
// between pre and post (a member renamed in place is none), an enum whose existing enumerators change value, or a
// variable whose type changes, means a header (or file-local) change reshaped something that already exists in
// memory: refused naming the type and the member. The reference is the running kernel's own BTF when the type is there (/sys/kernel/btf, or the image's
// vmlinux and .ko files), else the pre object's. New types, macros, prototypes and comments change no layout.

import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SplicedError } from '../../errors';
import { Btf, parseBtf, typeName } from '../../elf/btf';
import { Problem } from './safety';

const run = promisify(execFile);

/** What a named type looks like to code: one line per member (flattened through anonymous members) or enumerator. */
export interface Layout {
  kind: 'struct' | 'union' | 'enum' | 'var';
  name: string;
  size: number;
  /** `member` → `@bitOffset:bitSize type` for structs and unions; `enumerator` → value for enums; '' → type for vars. */
  entries: Map<string, string>;
}

function flatten(btf: Btf, id: number, base: number, prefix: string, into: Map<string, string>, depth = 0): void {
  for (const m of btf.types[id].members) {
    let target = m.type;
    while (['typedef', 'const', 'volatile', 'type_tag'].includes(btf.types[target]?.kind) && btf.types[target].name === '' && depth < 8) {
      target = btf.types[target].type;
    }
    const t = btf.types[target];
    if (m.name === '' && t && (t.kind === 'struct' || t.kind === 'union') && depth < 8) {
      flatten(btf, target, base + m.bitOffset, prefix, into, depth + 1);
      continue;
    }
    into.set(prefix + m.name, `@${base + m.bitOffset}${m.bitSize ? `:${m.bitSize}` : ''} ${typeName(btf, m.type)}`);
  }
}

/** The layout of a named struct, union, enum or variable; undefined for other types and anonymous ones. */
function layoutOf(btf: Btf, id: number): Layout | undefined {
  const t = btf.types[id];
  if (t.name === '') return undefined;
  if (t.kind === 'struct' || t.kind === 'union') {
    const entries = new Map<string, string>();
    flatten(btf, id, 0, '', entries);
    return { kind: t.kind, name: t.name, size: t.size, entries };
  }
  if (t.kind === 'enum' || t.kind === 'enum64') {
    return { kind: 'enum', name: t.name, size: t.size, entries: new Map(t.values.map((v) => [v.name, v.value.toString()])) };
  }
  if (t.kind === 'var') return { kind: 'var', name: t.name, size: 0, entries: new Map([['', typeName(btf, t.type)]]) };
  return undefined;
}

/** Every named struct, union, enum and variable of a BTF; same-named ones (other definitions) all kept. */
export function layoutsOf(btf: Btf, from = 1): Map<string, Layout[]> {
  const layouts = new Map<string, Layout[]>();
  for (let id = from; id < btf.types.length; id++) {
    const l = layoutOf(btf, id);
    if (l) layouts.set(`${l.kind} ${l.name}`, [...(layouts.get(`${l.kind} ${l.name}`) ?? []), l]);
  }
  return layouts;
}

/** A kernel's layouts of one name, computed on demand: a kernel's BTF has ~100,000 types, a patch reshapes a few. */
const kernelIndex = new WeakMap<Btf, Map<string, number[]>>();
function kernelLayouts(btf: Btf, key: string): Layout[] | undefined {
  let index = kernelIndex.get(btf);
  if (!index) {
    index = new Map();
    for (const t of btf.types) {
      const kind = t.kind === 'enum64' ? 'enum' : t.kind;
      if (t.name !== '' && ['struct', 'union', 'enum', 'var'].includes(kind)) index.set(`${kind} ${t.name}`, [...(index.get(`${kind} ${t.name}`) ?? []), t.id]);
    }
    kernelIndex.set(btf, index);
  }
  return index.get(key)?.map((id) => layoutOf(btf, id)!);
}

/** How `after` differs from `before` in what existing code relies on, in words; undefined when it does not. */
export function layoutChange(before: Layout, after: Layout): string | undefined {
  const what = before.kind === 'var' ? `variable ${before.name}` : `${before.kind} ${before.name}`;
  if (before.kind === 'var') {
    const [a, b] = [before.entries.get(''), after.entries.get('')];
    return a === b ? undefined : `the type of ${what} changes (${a} → ${b})`;
  }
  // A member renamed in place (same offset, size and type, nothing else changed) leaves every access as it was: the
  // name exists only in the source.
  if (before.kind !== 'enum' && before.size === after.size && renamedInPlace(before.entries, after.entries)) return undefined;
  // Enumerators may be added (existing values unchanged); a struct member may not (the size changes, or it takes
  // space code already uses, or a union's member overlaps the others' storage in a new way). An added member is named
  // first: it is what moved the members after it.
  if (before.kind !== 'enum') {
    const added = [...after.entries.keys()].find((n) => !before.entries.has(n));
    if (added !== undefined) return `member ${added} is added to ${what}`;
  }
  for (const [name, value] of before.entries) {
    const now = after.entries.get(name);
    if (now === value) continue;
    if (before.kind === 'enum') {
      return now === undefined ? `${what} loses ${name}` : `${name} of ${what} changes value (${value} → ${now})`;
    }
    return now === undefined ? `member ${name} of ${what} is removed` : `member ${name} of ${what} changes (${value} → ${now})`;
  }
  if (before.size !== after.size) return `the size of ${what} changes (${before.size} → ${after.size} bytes)`;
  return undefined;
}

/**
 * Whether `after` is `before` with members renamed and nothing else: each member keeps its name and place, or its
 * name is gone and a name `before` did not have sits at the same place with the same type. Two members swapping
 * names is not a rename: the patched code would read one's data as the other's.
 */
function renamedInPlace(before: Map<string, string>, after: Map<string, string>): boolean {
  if (before.size !== after.size) return false;
  const newNames = [...after].filter(([name]) => !before.has(name));
  for (const [name, value] of before) {
    if (after.has(name)) {
      if (after.get(name) !== value) return false;
      continue;
    }
    const match = newNames.findIndex(([, v]) => v === value);
    if (match < 0) return false;
    newNames.splice(match, 1);
  }
  return newNames.length === 0;
}

/** The BTF pahole encodes from one side of a pair; BuildFailed naming the object when that fails or cannot be read. */
async function btfOf(object: Buffer, dir: string, side: 'pre' | 'post', name: string): Promise<Btf> {
  const path = join(dir, `${side}.o`);
  await writeFile(path, object);
  try {
    // Detached: pahole writes the raw BTF itself. `-J` would add a .BTF section with llvm-objcopy, which a Debian
    // machine with dwarves (and no llvm) does not have.
    await run('pahole', [`--btf_encode_detached=${path}.btf`, path], { maxBuffer: 64 * 1024 * 1024 });
  } catch (err) {
    throw new SplicedError('BuildFailed', `pahole could not encode the debug info of ${name} (${side}) as BTF: ${(err as Error).message}`, { object: name });
  }
  try {
    return parseBtf(await readFile(`${path}.btf`));
  } catch (err) {
    throw new SplicedError('BuildFailed', `the BTF pahole encoded from ${name} (${side}) cannot be read: ${(err as Error).message}`, { object: name });
  }
}

/**
 * Layout refusals of one pair. `kernel`: the target's own BTF (vmlinux, or a module's split on it), when at hand.
 * Only types whose layout the patch changes (pre ≠ post) are candidates; each is then judged against the kernel's
 * definitions of that name (refused unless one equals the post layout), or against the pre one when the kernel has none.
 */
export async function structLayoutProblems(pair: { object: string; pre: Buffer; post: Buffer }, kernel?: Btf): Promise<Problem[]> {
  const dir = await mkdtemp(join(tmpdir(), 'spliced-layout-'));
  try {
    const before = layoutsOf(await btfOf(pair.pre, dir, 'pre', pair.object));
    const after = layoutsOf(await btfOf(pair.post, dir, 'post', pair.object));
    const problems: Problem[] = [];
    for (const [key, posts] of after) {
      const pres = before.get(key);
      if (!pres || posts.length !== 1 || pres.length !== 1) continue;
      if (layoutChange(pres[0], posts[0]) === undefined && layoutChange(posts[0], pres[0]) === undefined) continue;
      const running = kernel && kernelLayouts(kernel, key);
      const references = running ?? pres;
      if (references.some((r) => layoutChange(r, posts[0]) === undefined)) continue;
      const detail = layoutChange(references[0], posts[0]) ?? `the layout of ${key} changes`;
      const reason = posts[0].kind === 'enum' ? 'enum-value' : posts[0].kind === 'var' ? 'variable-type' : 'struct-layout';
      problems.push({ reason, symbol: key, detail: `${detail}${running ? " (against the target kernel's BTF)" : ''}` });
    }
    return problems;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
