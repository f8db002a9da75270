// What the target kernel offers a livepatch module: exported symbols (Module.symvers of the headers: the module loader
// resolves these, with modversions) and every symbol in /proc/kallsyms order (livepatch resolves the rest by name and
// position). sympos is the 1-based position of a name among the same-named symbols of one object in kallsyms order
// (address order for vmlinux, symbol-table order for a module); 0 when the name is unique there, which the kernel
// accepts. The order is taken from /proc/kallsyms-format text: the running kernel's own, or one captured from it.

import { SplicedError } from '../../errors';
import { parseElf, SHN, STT } from '../../elf/reader';

export interface KallsymsEntry {
  address: bigint;
  type: string;
  name: string;
  /** The source file (translation unit) a module's local comes from, known from the module's .ko. */
  file?: string;
}

/** An export of Module.symvers: which object provides it ("vmlinux" or a module name) and its namespace, if any. */
export interface ExportEntry {
  object: string;
  namespace?: string;
}

export interface KernelSymbols {
  exportOf(name: string): ExportEntry | undefined;
  /** Object ("vmlinux" or a module name) → entries in kallsyms order. */
  entriesOf(object: string, name: string): KallsymsEntry[];
  /** Whether any symbol list of the object is known (kallsyms lines or its .ko). */
  knows(object: string): boolean;
}

/** Module.symvers lines: `crc<TAB>name<TAB>vmlinux|path/of/module<TAB>EXPORT_SYMBOL…<TAB>namespace`. */
export function parseModuleSymvers(text: string): Map<string, ExportEntry> {
  const exports = new Map<string, ExportEntry>();
  for (const line of text.split('\n')) {
    const [, name, owner, , namespace] = line.split('\t');
    if (owner === undefined) continue;
    // A module is known by its file name, with '-' as '_' (what kallsyms and klp_object.name use).
    const object = owner === 'vmlinux' ? owner : owner.split('/').pop()!.replace(/-/g, '_');
    exports.set(name, namespace ? { object, namespace } : { object });
  }
  return exports;
}

export function parseKallsyms(text: string): Map<string, Map<string, KallsymsEntry[]>> {
  const objects = new Map<string, Map<string, KallsymsEntry[]>>();
  for (const line of text.split('\n')) {
    const match = /^([0-9a-fA-F]+) (\S) (\S+)(?:\t\[(\S+)\])?/.exec(line);
    if (!match) continue;
    const object = match[4] ?? 'vmlinux';
    let byName = objects.get(object);
    if (!byName) objects.set(object, (byName = new Map()));
    const entry = { address: BigInt('0x' + match[1]), type: match[2], name: match[3] };
    const list = byName.get(entry.name);
    if (list) list.push(entry);
    else byName.set(entry.name, [entry]);
  }
  return objects;
}

export function kernelSymbols(moduleSymvers: string, kallsyms: string): KernelSymbols {
  const exported = parseModuleSymvers(moduleSymvers);
  const objects = parseKallsyms(kallsyms);
  return {
    exportOf: (name) => exported.get(name),
    entriesOf: (object, name) => objects.get(object)?.get(name) ?? [],
    knows: (object) => objects.has(object),
  };
}

/**
 * Symbols of a linked ELF file by name, in kallsyms order, each local with the translation unit it comes from: `ld`
 * keeps each input object's locals after that object's file symbol (STT_FILE, the compiler's name of the unit). A
 * module's symbols are in symbol-table order (the kernel keeps a module's symbols in file order); vmlinux's in address
 * order (scripts/kallsyms sorts them), `order: 'address'`.
 */
export function fileSymbols(elf: Buffer, order: 'symtab' | 'address' = 'symtab'): Map<string, KallsymsEntry[]> {
  const byName = new Map<string, KallsymsEntry[]>();
  let file: string | undefined;
  for (const s of parseElf(elf).symbols()) {
    if (s.type === STT.FILE) file = s.name;
    // kallsyms leaves out absolute symbols (System.map too: an assembler's `sp_reg = 5`), so they are not counted.
    if (s.name === '' || s.type === STT.SECTION || s.type === STT.FILE || s.shndx === SHN.UNDEF || s.shndx === SHN.ABS) continue;
    const entry = { address: s.value, type: s.bind === 0 ? 't' : 'T', name: s.name, ...(s.bind === 0 && file ? { file } : {}) };
    const list = byName.get(s.name);
    if (list) list.push(entry);
    else byName.set(s.name, [entry]);
  }
  if (order === 'address') for (const list of byName.values()) list.sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
  return byName;
}

/**
 * The names of fileSymbols() that occur more than once, as text: `name<TAB>address<TAB>type<TAB>file` per symbol, in
 * the given order (what sympos needs of a vmlinux with symbols, ≈ 2 % of its symbol table).
 */
export function formatSameNamed(byName: ReadonlyMap<string, KallsymsEntry[]>): string {
  const lines: string[] = [];
  for (const [name, entries] of byName) {
    if (entries.length > 1) for (const e of entries) lines.push(`${name}\t${e.address.toString(16)}\t${e.type}\t${e.file ?? ''}`);
  }
  return lines.join('\n') + '\n';
}

export function parseSameNamed(text: string): Map<string, KallsymsEntry[]> {
  const byName = new Map<string, KallsymsEntry[]>();
  for (const line of text.split('\n')) {
    const [name, address, type, file] = line.split('\t');
    if (file === undefined) continue;
    const entry = { address: BigInt('0x' + address), type, name, ...(file ? { file } : {}) };
    const list = byName.get(name);
    if (list) list.push(entry);
    else byName.set(name, [entry]);
  }
  return byName;
}

/**
 * Lookups of kallsyms entries with the translation unit of each local added from the object's symbol file (`files`:
 * object → fileSymbols()). Matched by position among the same-named entries, so KASLR-shifted kallsyms addresses and
 * link-time file addresses agree; a name counted differently on the two sides gets no files. An object kallsyms does
 * not list (a module that is not loaded) is answered from its file alone.
 */
export function withFiles(
  entriesOf: (object: string, name: string) => KallsymsEntry[],
  files: ReadonlyMap<string, ReadonlyMap<string, KallsymsEntry[]>>,
): (object: string, name: string) => KallsymsEntry[] {
  return (object, name) => {
    const live = entriesOf(object, name);
    const inFile = files.get(object)?.get(name) ?? [];
    if (live.length === 0) return inFile;
    return live.length === inFile.length ? live.map((e, i) => (inFile[i].file ? { ...e, file: inFile[i].file } : e)) : live;
  };
}

/**
 * The same for a KernelSymbols: each of `files`' objects becomes known, loaded or not. A module that is not loaded has
 * no kallsyms entries; its .ko's symbol table has the same order, so the same-named symbols are counted there.
 */
export function withFileSymbols(symbols: KernelSymbols, files: ReadonlyMap<string, ReadonlyMap<string, KallsymsEntry[]>>): KernelSymbols {
  return {
    exportOf: symbols.exportOf,
    entriesOf: withFiles((object, name) => symbols.entriesOf(object, name), files),
    knows: (object) => symbols.knows(object) || files.has(object),
  };
}

/**
 * sympos of `name` in `object`. `global` picks the one global definition among same-named locals; `address`, when
 * known (from a run-pre match), picks the exact one; `file`, the translation unit of a local, picks the one the target's
 * symbol file (a module's .ko, vmlinux's from the -dbg package) lists after that file's symbol: kpatch's way. Otherwise
 * an ambiguous name is refused rather than guessed.
 */
export function symposOf(symbols: KernelSymbols, object: string, name: string, hint: { global?: boolean; address?: bigint; file?: string } = {}): number {
  const entries = symbols.entriesOf(object, name);
  // No symbol list of the target at all (a build host without its kallsyms): position 0 lets the kernel resolve a
  // unique name and refuse the load, cleanly, if the name is ambiguous or absent.
  if (entries.length === 0 && !symbols.knows(object)) return 0;
  if (entries.length === 0) {
    throw new SplicedError('UnresolvedSymbol', `${object} has no symbol ${name} in its symbol table (kallsyms)`, { object, symbol: name });
  }
  if (entries.length === 1) return 0;
  const pick = (i: number) => (i >= 0 ? i + 1 : undefined);
  const byAddress = hint.address === undefined ? undefined : pick(entries.findIndex((e) => e.address === hint.address));
  if (byAddress !== undefined) return byAddress;
  if (hint.file !== undefined && !hint.global) {
    const inFile = entries.map((e, i) => (e.file === hint.file ? i : -1)).filter((i) => i >= 0);
    if (inFile.length === 1) return inFile[0] + 1;
  }
  if (hint.global) {
    const globals = entries.map((e, i) => (e.type === e.type.toUpperCase() ? i : -1)).filter((i) => i >= 0);
    if (globals.length === 1) return globals[0] + 1;
  }
  throw new SplicedError('UnsafePatch', `${object} has ${entries.length} symbols named ${name}; which one this source means is unknown: no run-pre match, and neither the binding nor the translation unit (${hint.file ?? 'no file symbol'}) tells them apart`, {
    reason: 'ambiguous-symbol',
    object,
    symbol: name,
  });
}
