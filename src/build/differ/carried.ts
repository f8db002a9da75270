// What a splice carries besides its functions: the functions it includes (changed and new ones, with the `.cold`
// parts of those), and the changed read-only local data only they use. A `static const` table inside or beside a
// function (a DMI match list, a lookup table) whose value the patch changes is the patched code's own constant: when
// every use of it is in included code, the splice takes the new table with that code, as it takes string literals,
// and the running kernel's copy is simply no longer used. One used by unchanged code or by other data (an ops or
// policy structure the kernel holds) is the running kernel's state, and stays a data-init refusal.

import { ElfSymbol, SHT, STB } from '../../elf/reader';
import type { DataDiff, DiffResult } from './diff';
import { isCode, ObjectFile, resolveReference, SHF, symbolAt } from './object';

/** The functions a livepatch replaces or adds for one diff, `.cold` parts of included functions included. */
export function functionsToInclude(diff: DiffResult): ElfSymbol[] {
  const chosen = diff.functions.filter((f) => f.post && (f.status === 'changed' || f.status === 'new'));
  const names = new Set(chosen.map((f) => f.name));
  const cold = diff.functions.filter((f) => f.post && f.parent !== undefined && names.has(f.parent) && !names.has(f.name));
  return [...chosen, ...cold].map((f) => f.post!);
}

const isReadOnlyLocal = (obj: ObjectFile, symbol: ElfSymbol | undefined): symbol is ElfSymbol => {
  if (!symbol || symbol.bind !== STB.LOCAL) return false;
  const section = obj.sections[symbol.shndx];
  return section.type === SHT.PROGBITS && (section.flags & SHF.ALLOC) !== 0n && (section.flags & SHF.WRITE) === 0n;
};

/** Changed (or resized) read-only local data of the post object. */
export function changedReadOnlyData(post: ObjectFile, data: readonly DataDiff[]): ElfSymbol[] {
  return data.filter((d) => (d.status === 'changed' || d.status === 'resized') && isReadOnlyLocal(post, d.post)).map((d) => d.post!);
}

/**
 * The functions whose code refers to each of `symbols` (post object), or undefined for a symbol anything else refers
 * to: other data, or code outside any function.
 */
export function codeUsers(post: ObjectFile, symbols: readonly ElfSymbol[]): Map<number, Set<number> | undefined> {
  const users = new Map<number, Set<number> | undefined>(symbols.map((s) => [s.index, new Set<number>()]));
  if (users.size === 0) return users;
  for (const section of post.sections) {
    if ((section.flags & SHF.ALLOC) === 0n) continue;
    for (const r of post.relocationsOf.get(section.index) ?? []) {
      const ref = resolveReference(post, section, r);
      if (ref.kind !== 'symbol' || !users.has(ref.symbol.index)) continue;
      const user = isCode(section) ? symbolAt(post, section.index, r.offset) : undefined;
      if (user) users.get(ref.symbol.index)?.add(user.index);
      else users.set(ref.symbol.index, undefined);
    }
  }
  return users;
}

/**
 * Post-object symbol indexes of changed read-only local data whose every reference comes from included functions:
 * the splice carries the new value (diffObjects marks such users changed, so this holds whenever only code uses it).
 */
export function carriedReadOnlyData(diff: DiffResult): Set<number> {
  const included = new Set(functionsToInclude(diff).map((f) => f.index));
  const carried = new Set<number>();
  for (const [index, users] of codeUsers(diff.post, changedReadOnlyData(diff.post, diff.data))) {
    if (users && [...users].every((u) => included.has(u))) carried.add(index);
  }
  return carried;
}
