// The x86-64 kernel's special sections: tables of fixed-size entries, each pointing into code, that the kernel reads
// at boot or at module load (and for most, rewrites the code they point at). The module extractor carries the
// entries of the code it includes (src/build/module/extract.ts); run-pre accepts the forms the kernel writes at
// rewritten sites (src/build/runpre/check.ts). One table of entry sizes for both.

/** Bytes per entry, by section name (6.1's struct layouts: bug_entry, exception_table_entry, jump_entry, …). */
export const SPECIAL_SECTION_ENTRY: Readonly<Record<string, number>> = {
  __bug_table: 12,
  __ex_table: 12,
  __jump_table: 16,
  __mcount_loc: 8,
  '.altinstructions': 12,
  '.parainstructions': 16,
  '.static_call_sites': 8,
  '.return_sites': 4,
  '.retpoline_sites': 4,
  '.ibt_endbr_seal': 4,
  '.smp_locks': 4,
  '.orc_unwind_ip': 4,
};
