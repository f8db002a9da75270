// What the rest of spliced knows about the kernel. src/kernel implements it against the real sysfs/procfs;
// unit tests of the engine may use a fake of the same interface (never instead of the guest tests).

/** Which kernel is running: a splice is only ever applied to the exact build it was made for. */
export interface KernelIdentity {
  /** `uname -r`, e.g. "6.1.0-56-amd64". */
  release: string;
  /** GNU build id of the running vmlinux, hex, from /sys/kernel/notes. */
  buildId: string;
  /** The whole /proc/version line (names the Debian package version, e.g. "6.1.192-2"). */
  version: string;
}

/** The `.modinfo` of a module file, read without loading it. */
export interface ModuleInfo {
  path: string;
  /** Module name as the kernel will know it (`-` turned into `_`). */
  name: string;
  vermagic: string;
  /** Release the module was built for: the first word of vermagic. */
  release: string;
  livepatch: boolean;
  /** It carries an appended PKCS#7 signature (whether the kernel trusts its key is only known when loading it). */
  signed: boolean;
  description?: string;
  /** Every modinfo key with all its values, in file order. */
  fields: Record<string, string[]>;
}

export interface PatchedFunction {
  name: string;
  /** Position among same-named local symbols (0 = unique name). */
  sympos: number;
}

export interface PatchedObject {
  /** "vmlinux" or a module name. */
  name: string;
  /** False while a target module is not loaded. */
  patched: boolean;
  functions: PatchedFunction[];
}

/** One entry of /sys/kernel/livepatch. */
export interface LivePatch {
  name: string;
  enabled: boolean;
  transition: boolean;
  objects: PatchedObject[];
}

/** A task that keeps a transition from finishing. */
export interface BlockingTask {
  pid: number;
  tid: number;
  comm: string;
  /** /proc/<pid>/task/<tid>/stack, one frame per line. */
  stack: string[];
}

export interface TransitionOptions {
  /** How long to wait for a transition before reporting the blockers and reversing it. */
  transitionTimeoutMs?: number;
  /** Attempts when the kernel answers EBUSY because another patch is in transition. */
  busyRetries?: number;
}

export interface LoadResult {
  /** The livepatch's name in sysfs. */
  patch: string;
  /** Patches an atomic-replace patch disabled and whose modules were unloaded. */
  superseded: string[];
  /** File given to load → transition finished. */
  durationMs: number;
}

/** /sys/kernel/security/lockdown's selected mode. */
export type LockdownMode = 'none' | 'integrity' | 'confidentiality';

/** Whether the kernel loads only modules signed by a key it trusts, and why. */
export interface SignaturePolicy {
  /** Unsigned modules (and modules signed by a key the kernel does not trust) are refused. */
  required: boolean;
  /** The lockdown mode; null when the kernel has no lockdown LSM. integrity and confidentiality force signatures. */
  lockdown: LockdownMode | null;
  /** module.sig_enforce=1 (or a kernel built with CONFIG_MODULE_SIG_FORCE). */
  sigEnforce: boolean;
}

/** The livepatch backend the engine drives. Every method throws SplicedError on failure. */
export interface KernelPort {
  identity(): Promise<KernelIdentity>;
  readModuleInfo(path: string): Promise<ModuleInfo>;
  /** Read from sysfs at every call: lockdown and sig_enforce can be raised while the system runs. */
  signaturePolicy(): Promise<SignaturePolicy>;
  list(): Promise<LivePatch[]>;
  /** Load a livepatch module and wait until its transition has finished. */
  load(path: string, options?: TransitionOptions): Promise<LoadResult>;
  /** Disable (or reverse an unfinished enable), wait for the transition, then unload the module. */
  revert(patch: string, options?: TransitionOptions): Promise<void>;
}
