// x86-64 relocation types and the little instruction knowledge the differ needs: where a PC-relative reference
// really points. `disp32(%rip)` is relative to the end of the instruction, so the addend is -4 minus the length of
// any immediate that follows the displacement (`cmpb $0,x(%rip)` has -5); the referenced object is at addend + that.

export const R_X86_64 = {
  NONE: 0,
  R64: 1,
  PC32: 2,
  PLT32: 4,
  R32: 10,
  R32S: 11,
  PC64: 24,
  GOTPCRELX: 41,
  REX_GOTPCRELX: 42,
} as const;

export function isPcRelative(type: number): boolean {
  return type === R_X86_64.PC32 || type === R_X86_64.PLT32 || type === R_X86_64.PC64;
}

/** Width in bytes of the field a relocation writes. */
export function relocationWidth(type: number): number {
  return type === R_X86_64.R64 || type === R_X86_64.PC64 ? 8 : 4;
}

/**
 * Offset from the addend to the referenced byte for a relocation at `offset` of code `text`:
 * 4 + the immediate's length for RIP-relative operands; 0 for absolute references and for data.
 */
export function referenceAdjustment(text: Buffer, offset: number, type: number, inCode: boolean): number {
  if (type !== R_X86_64.PC32 || !inCode) return type === R_X86_64.PLT32 ? 4 : 0;
  return 4 + immediateAfterRipDisplacement(text, offset);
}

function immediateAfterRipDisplacement(text: Buffer, offset: number): number {
  if (offset < 2) return 0;
  const modrm = text[offset - 1];
  if ((modrm & 0xc7) !== 0x05) return 0; // not mod=00 rm=101 (RIP-relative)
  const reg = (modrm >> 3) & 7;
  const opcode = text[offset - 2];
  const escaped = offset >= 3 && text[offset - 3] === 0x0f;
  const prefix66 = offset >= 3 && (text[offset - 3] === 0x66 || (offset >= 4 && text[offset - 4] === 0x66));
  if (escaped) return opcode === 0xba ? 1 : 0; // bt/bts/btr/btc $imm8
  switch (opcode) {
    case 0x80:
    case 0x83:
    case 0xc6:
    case 0xc0:
    case 0xc1:
    case 0x6b:
      return 1;
    case 0x81:
    case 0xc7:
    case 0x69:
      return prefix66 ? 2 : 4;
    case 0xf6:
      return reg <= 1 ? 1 : 0;
    case 0xf7:
      return reg <= 1 ? (prefix66 ? 2 : 4) : 0;
    default:
      return 0;
  }
}
