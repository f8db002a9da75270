// The differ: a pre and a post object of one translation unit in, what changed out. Phases, each a plain function:
// load (index both objects) → correlate (which post symbol is which pre symbol) → compare (describe and compare each
// function and data object) → classify (changed / new / unchanged, `.cold` parts folded into their parents).
// Safety analysis (safety.ts) and module generation (klp-*.ts) consume the DiffResult.

import { ElfSymbol, STB } from '../../elf/reader';
import { correlate, Correlation } from './correlate';
import { Describer } from './compare';
import { differsOnlyInLineNumbers, LineMap } from './lines';
import { loadObject, ObjectFile } from './object';

export type FunctionStatus = 'changed' | 'new' | 'unchanged' | 'removed';
export type DataStatus = 'changed' | 'resized' | 'new' | 'unchanged' | 'removed';

export interface FunctionDiff {
  name: string;
  status: FunctionStatus;
  /** Section the function lives in (of the post object, or the pre object when removed). */
  section: string;
  global: boolean;
  /** For a `.cold` part: the function it was split from. */
  parent?: string;
  /** The symbols on each side (absent on the side that lacks the function). */
  pre?: ElfSymbol;
  post?: ElfSymbol;
}

export interface DataDiff {
  name: string;
  status: DataStatus;
  section: string;
  global: boolean;
  pre?: ElfSymbol;
  post?: ElfSymbol;
}

export interface DiffResult {
  pre: ObjectFile;
  post: ObjectFile;
  correlation: Correlation;
  functions: FunctionDiff[];
  data: DataDiff[];
  exportsAdded: string[];
  exportsRemoved: string[];
}

export interface DiffOptions {
  /** Module the object belongs to (e.g. "ext4"); absent for vmlinux. Recorded, not used to compare. */
  module?: string;
  /** Where the patch moved the translation unit's unchanged lines: `__LINE__` shifts are then not changes. */
  lineMap?: LineMap;
}

const COLD_SUFFIX = /\.cold(\.\d+)?$/;

export function coldParent(name: string): string | undefined {
  return COLD_SUFFIX.test(name) ? name.replace(COLD_SUFFIX, '') : undefined;
}

function exportsOf(obj: ObjectFile): Set<string> {
  const names = new Set<string>();
  for (const s of obj.sections) {
    const match = /^___ksymtab(?:_gpl)?\+(.+)$/.exec(s.name);
    if (match) names.add(match[1]);
  }
  return names;
}

/** Equal descriptions, or descriptions that differ only in line numbers the patch moved. */
function sameCode(before: string, after: string, lines: LineMap | undefined): boolean {
  if (before === after) return true;
  if (!lines) return false;
  const [beforeBytes, beforeRefs] = splitDescription(before);
  const [afterBytes, afterRefs] = splitDescription(after);
  return beforeRefs === afterRefs && differsOnlyInLineNumbers(Buffer.from(beforeBytes, 'hex'), Buffer.from(afterBytes, 'hex'), lines);
}

function splitDescription(text: string): [string, string] {
  const bar = text.indexOf('|');
  return [text.slice(0, bar), text.slice(bar + 1)];
}

export function diffObjects(preRaw: Buffer, postRaw: Buffer, options: DiffOptions = {}): DiffResult {
  const pre = loadObject(preRaw);
  const post = loadObject(postRaw);
  const correlation = correlate(pre, post);
  const describePre = new Describer(pre, 'pre', correlation);
  const describePost = new Describer(post, 'post', correlation);

  const compareSymbols = <S extends string>(
    preSyms: ElfSymbol[],
    postSyms: ElfSymbol[],
    status: (a: ElfSymbol, b: ElfSymbol) => S,
  ) => {
    const out: { name: string; status: S | 'new' | 'removed'; pre?: ElfSymbol; post?: ElfSymbol }[] = [];
    for (const b of postSyms) {
      const preIndex = correlation.postToPre.get(b.index);
      const a = preIndex === undefined ? undefined : pre.symbols[preIndex];
      out.push(a ? { name: b.name, status: status(a, b), pre: a, post: b } : { name: b.name, status: 'new', post: b });
    }
    for (const a of preSyms) if (!correlation.preToPost.has(a.index)) out.push({ name: a.name, status: 'removed', pre: a });
    return out;
  };

  const functionRows = compareSymbols(pre.functions, post.functions, (a, b) =>
    sameCode(describePre.describeSymbol(a), describePost.describeSymbol(b), options.lineMap) ? 'unchanged' : 'changed',
  );
  const functions: FunctionDiff[] = functionRows.map((row) => {
    const symbol = (row.post ?? row.pre)!;
    const obj = row.post ? post : pre;
    const parent = coldParent(row.name);
    return {
      ...row,
      section: obj.sections[symbol.shndx].name,
      global: symbol.bind !== STB.LOCAL,
      ...(parent !== undefined ? { parent } : {}),
    };
  });
  // A changed `.cold` part is a change of the function it was split from: that is what gets replaced.
  const byName = new Map(functions.map((f) => [f.name, f]));
  for (const f of functions) {
    if (f.parent === undefined || f.status === 'unchanged' || f.status === 'removed') continue;
    const parent = byName.get(f.parent);
    if (parent?.status === 'unchanged') parent.status = 'changed';
  }

  const dataRows = compareSymbols(pre.dataObjects, post.dataObjects, (a, b): DataStatus => {
    if (a.size !== b.size) return 'resized';
    return describePre.describeSymbol(a) === describePost.describeSymbol(b) ? 'unchanged' : 'changed';
  });
  const data: DataDiff[] = dataRows.map((row) => {
    const symbol = (row.post ?? row.pre)!;
    const obj = row.post ? post : pre;
    return { ...row, section: obj.sections[symbol.shndx].name, global: symbol.bind !== STB.LOCAL };
  });

  const preExports = exportsOf(pre);
  const postExports = exportsOf(post);
  return {
    pre,
    post,
    correlation,
    functions,
    data,
    exportsAdded: [...postExports].filter((n) => !preExports.has(n)).sort(),
    exportsRemoved: [...preExports].filter((n) => !postExports.has(n)).sort(),
  };
}
