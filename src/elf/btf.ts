// BTF, the kernel's compact type format (Documentation/bpf/btf.rst): a header, a type section and a string section.
// Read from /sys/kernel/btf/vmlinux (raw), /sys/kernel/btf/<module> (split BTF: its type ids and string offsets
// continue the vmlinux BTF's), the `.BTF` section of a vmlinux or a .ko, or the raw file `pahole --btf_encode_detached`
// writes for an object.
// Only what layout checks need is kept: every type's kind, name, size and members / enumerators / target type.

export const BTF_MAGIC = 0xeb9f;

export type BtfKind =
  | 'void' | 'int' | 'ptr' | 'array' | 'struct' | 'union' | 'enum' | 'fwd' | 'typedef' | 'volatile' | 'const'
  | 'restrict' | 'func' | 'func_proto' | 'var' | 'datasec' | 'float' | 'decl_tag' | 'type_tag' | 'enum64';

const KINDS: BtfKind[] = [
  'void', 'int', 'ptr', 'array', 'struct', 'union', 'enum', 'fwd', 'typedef', 'volatile', 'const', 'restrict', 'func',
  'func_proto', 'var', 'datasec', 'float', 'decl_tag', 'type_tag', 'enum64',
];

export interface BtfMember {
  name: string;
  type: number;
  /** Offset from the start of the struct, in bits. */
  bitOffset: number;
  /** Width of a bitfield member, 0 for a whole member. */
  bitSize: number;
}

export interface BtfType {
  id: number;
  kind: BtfKind;
  name: string;
  /** Bytes, for int/struct/union/enum/float/datasec; 0 otherwise. */
  size: number;
  /** Referenced type (ptr, typedef, const, volatile, restrict, func, var, type_tag, decl_tag; array element). */
  type: number;
  /** Array element count. */
  count: number;
  members: BtfMember[];
  /** Enumerators (enum, enum64). */
  values: { name: string; value: bigint }[];
}

export interface Btf {
  /** Types by id; 0 is void. A split BTF's array starts with its base's types. */
  types: BtfType[];
  strings: (offset: number) => string;
}

/** BTF this reader cannot take: what is wrong, in words; callers add which file it came from. */
export class BtfFormatError extends Error {
  override readonly name = 'BtfFormatError';
}

function check(condition: boolean, what: string): asserts condition {
  if (!condition) throw new BtfFormatError(what);
}

/** Bytes that follow a type's 12-byte common part (btf.rst, "Type Encoding"). */
function trailerSize(kind: BtfKind, vlen: number): number {
  switch (kind) {
    case 'int': case 'var': case 'decl_tag': return 4;
    case 'array': return 12;
    case 'struct': case 'union': case 'datasec': case 'enum64': return 12 * vlen;
    case 'enum': case 'func_proto': return 8 * vlen;
    default: return 0;
  }
}

/**
 * Parses raw BTF. `base`: the vmlinux BTF a module's split BTF continues. Every offset is checked: a truncated or
 * corrupt BTF gives BtfFormatError, never a RangeError.
 */
export function parseBtf(data: Buffer, base?: Btf): Btf {
  check(data.length >= 24 && data.readUInt16LE(0) === BTF_MAGIC, `not BTF (${data.length < 24 ? `${data.length} bytes` : 'bad magic'})`);
  check(data.readUInt8(2) === 1, `BTF version ${data.readUInt8(2)}, not 1`);
  const hdrLen = data.readUInt32LE(4);
  const typeOff = data.readUInt32LE(8);
  const typeLen = data.readUInt32LE(12);
  const strOff = data.readUInt32LE(16);
  const strLen = data.readUInt32LE(20);
  const typesStart = hdrLen + typeOff;
  const stringsStart = hdrLen + strOff;
  check(hdrLen >= 24, `BTF header of ${hdrLen} bytes`);
  check(
    typesStart + typeLen <= data.length && stringsStart + strLen <= data.length,
    `BTF sections beyond its end: types end at ${typesStart + typeLen}, strings at ${stringsStart + strLen}, the data at ${data.length}`,
  );
  const baseStrings = base ? base.strings : undefined;
  // A split BTF's string offsets start where its base's string section ends.
  const baseStrLen = base ? (base as BtfWithLength).stringLength : 0;
  const stringsEnd = stringsStart + strLen;
  const strings = (offset: number): string => {
    if (offset < baseStrLen && baseStrings) return baseStrings(offset);
    const at = stringsStart + offset - baseStrLen;
    check(at >= stringsStart && at < stringsEnd, `BTF string offset ${offset} out of range`);
    const end = data.indexOf(0, at);
    return data.toString('latin1', at, end < 0 || end > stringsEnd ? stringsEnd : end);
  };
  const types: BtfType[] = base ? [...base.types] : [{ id: 0, kind: 'void', name: '', size: 0, type: 0, count: 0, members: [], values: [] }];
  let at = typesStart;
  const end = typesStart + typeLen;
  while (at < end) {
    check(at + 12 <= end, `BTF type ${types.length} truncated`);
    const nameOff = data.readUInt32LE(at);
    const info = data.readUInt32LE(at + 4);
    const sizeOrType = data.readUInt32LE(at + 8);
    const vlen = info & 0xffff;
    const kind = KINDS[(info >>> 24) & 0x1f];
    check(kind !== undefined, `unknown BTF kind ${(info >>> 24) & 0x1f} (type ${types.length})`);
    const kindFlag = (info >>> 31) !== 0;
    at += 12;
    check(at + trailerSize(kind, vlen) <= end, `BTF type ${types.length} (${kind}, ${vlen} entries) runs past the type section`);
    const t: BtfType = { id: types.length, kind, name: strings(nameOff), size: 0, type: 0, count: 0, members: [], values: [] };
    switch (kind) {
      case 'int':
        t.size = sizeOrType;
        break;
      case 'array':
        t.type = data.readUInt32LE(at);
        t.count = data.readUInt32LE(at + 8);
        break;
      case 'struct':
      case 'union':
        t.size = sizeOrType;
        for (let i = 0, m = at; i < vlen; i++, m += 12) {
          const offset = data.readUInt32LE(m + 8);
          t.members.push({
            name: strings(data.readUInt32LE(m)),
            type: data.readUInt32LE(m + 4),
            bitOffset: kindFlag ? offset & 0xffffff : offset,
            bitSize: kindFlag ? offset >>> 24 : 0,
          });
        }
        break;
      case 'enum':
        t.size = sizeOrType;
        for (let i = 0, e = at; i < vlen; i++, e += 8) {
          const raw = data.readUInt32LE(e + 4);
          t.values.push({ name: strings(data.readUInt32LE(e)), value: BigInt(kindFlag ? raw : data.readInt32LE(e + 4)) });
        }
        break;
      case 'enum64':
        t.size = sizeOrType;
        for (let i = 0, e = at; i < vlen; i++, e += 12) {
          const value = (BigInt(data.readUInt32LE(e + 8)) << 32n) | BigInt(data.readUInt32LE(e + 4));
          t.values.push({ name: strings(data.readUInt32LE(e)), value: kindFlag ? value : BigInt.asIntN(64, value) });
        }
        break;
      case 'datasec':
      case 'float':
        t.size = sizeOrType;
        break;
      default:
        // ptr, typedef, const, volatile, restrict, type_tag, func, func_proto (its return type), var, decl_tag.
        t.type = sizeOrType;
    }
    at += trailerSize(kind, vlen);
    types.push(t);
  }
  const btf: BtfWithLength = { types, strings, stringLength: baseStrLen + strLen };
  return btf;
}

interface BtfWithLength extends Btf {
  stringLength: number;
}

/** A type as C names it, for messages and comparisons: `struct list_head *`, `u64`, `char [16]`. */
export function typeName(btf: Btf, id: number, depth = 0): string {
  const t = btf.types[id];
  if (!t || depth > 16) return '?';
  switch (t.kind) {
    case 'void':
      return 'void';
    case 'struct':
    case 'union':
    case 'enum':
    case 'fwd':
      return `${t.kind === 'enum' ? 'enum' : t.kind === 'fwd' ? 'struct' : t.kind} ${t.name || '(anon)'}`;
    case 'enum64':
      return `enum ${t.name || '(anon)'}`;
    case 'ptr':
      return `${typeName(btf, t.type, depth + 1)} *`;
    case 'array':
      return `${typeName(btf, t.type, depth + 1)} [${t.count}]`;
    case 'const':
    case 'volatile':
    case 'restrict':
      return `${t.kind} ${typeName(btf, t.type, depth + 1)}`;
    case 'type_tag':
      return typeName(btf, t.type, depth + 1);
    case 'func_proto':
      return 'function';
    default:
      return t.name;
  }
}
