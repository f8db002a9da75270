// Phase 1 of the differ: decide which post symbol is which pre symbol. Names match when unique on both sides. Names
// the compiler numbers (`__key.429`, `__func__.12`, `__already_done.7`, `foo.constprop.0`) and names embedding
// `__LINE__`/`__COUNTER__` are renumbered by unrelated edits, so those are matched by their digit-free stem together
// with the functions that use them, then by order of appearance.

import { ElfSymbol, SHN, STT } from '../../elf/reader';
import { isAssemblerLabel, ObjectFile, resolveReference } from './object';

export interface Correlation {
  /** post symbol index → pre symbol index. */
  postToPre: Map<number, number>;
  preToPost: Map<number, number>;
  /** A name for each pre symbol, unique within the pre object; post symbols get the name of their pre partner. */
  preName: Map<number, string>;
}

export function stemOf(name: string): string {
  return name.replace(/\d+/g, '#');
}

function correlatable(s: ElfSymbol): boolean {
  return s.index !== 0 && s.name !== '' && s.type !== STT.SECTION && s.type !== STT.FILE && !isAssemblerLabel(s);
}

/** Names of the functions whose code refers to each symbol (by index), stems for numbered function names. */
function usersOf(obj: ObjectFile): Map<number, string[]> {
  const users = new Map<number, Set<string>>();
  for (const fn of obj.functions) {
    const section = obj.sections[fn.shndx];
    const end = fn.value + BigInt(fn.size);
    for (const r of obj.relocationsOf.get(fn.shndx) ?? []) {
      if (r.offset < fn.value || r.offset >= end) continue;
      const ref = resolveReference(obj, section, r);
      if (ref.kind !== 'symbol') continue;
      const set = users.get(ref.symbol.index) ?? new Set<string>();
      set.add(stemOf(fn.name));
      users.set(ref.symbol.index, set);
    }
  }
  return new Map([...users].map(([k, v]) => [k, [...v].sort()]));
}

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = groups.get(k);
    if (list) list.push(item);
    else groups.set(k, [item]);
  }
  return groups;
}

export function correlate(pre: ObjectFile, post: ObjectFile): Correlation {
  const postToPre = new Map<number, number>();
  const preToPost = new Map<number, number>();
  const pair = (a: ElfSymbol, b: ElfSymbol) => {
    preToPost.set(a.index, b.index);
    postToPre.set(b.index, a.index);
  };
  const preSyms = pre.symbols.filter(correlatable);
  const postSyms = post.symbols.filter(correlatable);
  // Undefined symbols are the same symbol wherever their names are equal.
  const kindOf = (s: ElfSymbol) => `${s.shndx === SHN.UNDEF ? 'U' : 'D'}:${s.type}`;

  // 1. names whose digit-free stem is unique on both sides (a numbered name may be another symbol's old number)
  const preStems = groupBy(preSyms, (s) => `${kindOf(s)}:${stemOf(s.name)}`);
  const postStems = groupBy(postSyms, (s) => `${kindOf(s)}:${stemOf(s.name)}`);
  for (const [stem, list] of preStems) {
    const other = postStems.get(stem);
    if (list.length === 1 && other?.length === 1 && list[0].name === other[0].name) pair(list[0], other[0]);
  }

  // 2. same stem and same users; 3. same stem, in order of appearance; 4. equal names left over.
  const preUsers = usersOf(pre);
  const postUsers = usersOf(post);
  const rest = (syms: ElfSymbol[], done: Map<number, number>) => syms.filter((s) => !done.has(s.index));
  const keys: ((users: Map<number, string[]>) => (s: ElfSymbol) => string)[] = [
    (users) => (s) => `${kindOf(s)}:${stemOf(s.name)}|${(users.get(s.index) ?? []).join(',')}`,
    () => (s) => `${kindOf(s)}:${stemOf(s.name)}`,
    () => (s) => `${kindOf(s)}:${s.name}`,
  ];
  for (const key of keys) {
    const preGroups = groupBy(rest(preSyms, preToPost), key(preUsers));
    const postGroups = groupBy(rest(postSyms, postToPre), key(postUsers));
    for (const [k, list] of preGroups) {
      const other = postGroups.get(k);
      // Equal counts: the compiler numbers in order of appearance, so order pairs them.
      if (other && list.length === other.length) list.forEach((s, i) => pair(s, other[i]));
    }
  }

  const preName = new Map<number, string>();
  const seen = new Map<string, number>();
  for (const s of preSyms) {
    const n = seen.get(s.name) ?? 0;
    seen.set(s.name, n + 1);
    preName.set(s.index, n === 0 ? s.name : `${s.name}@${n}`);
  }
  return { postToPre, preToPost, preName };
}
