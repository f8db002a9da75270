// A static branch (jump label) on a module's own key, turned into ordinary code for a module-target splice.
//
// The kernel patches a jump-label site from its `__jump_table` entry when the module holding the entry loads; for a
// splice that is before livepatch has resolved the target module's symbols (Linux 6.1), so the entry cannot name the
// key. Instead the 5-byte site becomes `jmp stub`, and the stub decides at run time what the patched site would have
// done: jump to the entry's target when `static_key_enabled(key)` XOR the entry's branch bit, else fall through —
// `jump_label_type()`'s rule. The key is read with a livepatch relocation like any other module symbol; tracepoints
// and dynamic debug keep working, one compare slower while their key is off.

import { SplicedError } from '../../errors';

/** `cmpl $0, key(%rip)` · `jg|jle yes` · `jmp back`: 7 + 6 + 5 bytes. */
export const STUB_SIZE = 18;
/** Where the stub's three PC-relative fields are, and the addend each needs beyond its target's offset. */
export const STUB_FIELDS = {
  key: { at: 2, addend: -5n }, // the imm8 after the displacement: the CPU adds the displacement to the end of the instruction
  yes: { at: 9, addend: -4n },
  back: { at: 14, addend: -4n },
} as const;
export const SITE_SIZE = 5;

const NOP5 = Buffer.from([0x0f, 0x1f, 0x44, 0x00, 0x00]);
const JMP32 = 0xe9;
const SHORT_FORMS = [Buffer.from([0x66, 0x90]), Buffer.from([0xeb])];

/**
 * The stub for one site. The key's `enabled` count is the first member of `struct static_key`; enabled means > 0 (a
 * key being enabled for the first time reads -1 until its sites are patched, and counts as off, as there).
 */
export function stubCode(branch: boolean): Buffer {
  const code = Buffer.alloc(STUB_SIZE);
  code.set([0x83, 0x3d, 0, 0, 0, 0, 0x00], 0); // cmpl $0x0, disp32(%rip)
  code.set([0x0f, branch ? 0x8e : 0x8f, 0, 0, 0, 0], 7); // jle (branch: taken while off) or jg (taken while on)
  code.set([JMP32, 0, 0, 0, 0], 13);
  return code;
}

/** The jump that replaces a site; its displacement is a relocation to the stub. */
export function siteJump(): Buffer {
  return Buffer.from([JMP32, 0, 0, 0, 0]);
}

/**
 * The length of a site as objtool left it: 5 (a 5-byte NOP, or a likely branch's 5-byte `jmp`) or 2 (the target was
 * near, so the assembler chose a short `jmp`, which objtool NOPs or keeps); a 2-byte site must grow to hold the jump.
 */
export function checkSite(code: Buffer, offset: number, key: string, object: string): number {
  const site = code.subarray(offset, offset + SITE_SIZE);
  if (site.equals(NOP5) || site[0] === JMP32) return SITE_SIZE;
  if (SHORT_FORMS.some((form) => site.subarray(0, form.length).equals(form))) return 2;
  throw new SplicedError('UnsafePatch', `the patched code has a static branch on ${key} of ${object} at a site that is neither a NOP nor a jump (${site.toString('hex')})`, {
    reason: 'special-section',
    symbol: key,
    section: '__jump_table',
    object,
  });
}

/** A `__jump_table` key field holds the key's address plus flags in its low bits: bit 0 the branch, bit 1 objtool's. */
export function keyFlags(addend: bigint): { keyAddend: bigint; branch: boolean } {
  return { keyAddend: addend & ~3n, branch: (addend & 1n) === 1n };
}
