// Why the kernel refused a module: insmod only relays an errno; the reason is in the kernel log records written
// during the attempt. Turn both into the error kind an admin can act on.
import { SplicedError } from '../errors';
import type { KmsgRecord } from './kmsg';
import type { ModuleLoaderError } from './module-loader';

export interface LoadAttempt {
  path: string;
  name: string;
  release: string;
  failure: ModuleLoaderError;
  /** Kernel log records written while the module was being inserted. */
  records: readonly KmsgRecord[];
}

function matches(lines: readonly string[], pattern: RegExp): string[] {
  return lines.flatMap((line) => {
    const m = pattern.exec(line);
    return m ? [m[1]] : [];
  });
}

const SIGNATURE_REFUSAL = /^Loading of .* is rejected$|^Lockdown: .*module loading is restricted/;

/**
 * Log lines about this module: the module's own prefix, the livepatch core's, and the signature check's (6.1's
 * module_sig_check: "Loading of unsigned module is rejected" under sig_enforce; lockdown's "Lockdown: insmod: unsigned
 * module loading is restricted" otherwise).
 */
function relevantLines(name: string, records: readonly KmsgRecord[]): string[] {
  return records
    .map((r) => r.message)
    .filter((m) => m.startsWith(`${name}:`) || m.startsWith('livepatch:') || SIGNATURE_REFUSAL.test(m));
}

export function classifyLoadFailure(attempt: LoadAttempt): SplicedError {
  const { path, name, release, failure } = attempt;
  const kernelLog = relevantLines(name, attempt.records);
  const details = { path, module: name, errno: failure.errno, loader: failure.message, kernelLog };
  const said = kernelLog.length ? ` The kernel said: ${kernelLog.join(' | ')}` : '';

  const crcSymbols = matches(kernelLog, /disagrees about version of symbol (\S+)/);
  if (crcSymbols.length) {
    return new SplicedError(
      'WrongKernel',
      `${name} was built against different kernel headers than the running ${release}: symbol versions differ for ${crcSymbols.join(', ')}.`,
      { ...details, symbols: crcSymbols },
    );
  }
  const magic = /version magic '([^']*)' should be '([^']*)'/.exec(kernelLog.join('\n'));
  if (magic) {
    return new SplicedError('WrongKernel', `${name} was built for "${magic[1]}" but the running kernel is "${magic[2]}".`, {
      ...details,
      vermagic: magic[1],
    });
  }
  const unknown = [
    ...matches(kernelLog, /Unknown symbol (\S+)/),
    ...matches(kernelLog, /symbol '([^']+)' not found/),
    ...matches(kernelLog, /unresolvable ambiguity for symbol '([^']+)'/),
  ];
  if (unknown.length) {
    const symbols = [...new Set(unknown)];
    return new SplicedError(
      'UnresolvedSymbol',
      `${name} needs ${symbols.join(', ')}, which the running kernel ${release} does not provide.`,
      { ...details, symbols },
    );
  }
  // EKEYREJECTED under sig_enforce (unsigned, or signed by a key not in the kernel's keyrings), EPERM under lockdown.
  if (['EKEYREJECTED', 'ENOKEY'].includes(failure.errno) || kernelLog.some((line) => SIGNATURE_REFUSAL.test(line))) {
    return new SplicedError(
      'SignatureRequired',
      `the kernel loads only modules signed by a key it trusts, and refused ${name}: it is unsigned or its signing key is ` +
        `not enrolled (mokutil --import the certificate, then reboot to confirm).${said}`,
      details,
    );
  }
  switch (failure.errno) {
    case 'EEXIST':
      return new SplicedError('AlreadyLoaded', `a module named ${name} is already loaded.`, details);
    case 'EBUSY':
      return new SplicedError('Busy', `another livepatch transition is still running; ${name} was not loaded. Try again later.${said}`, details);
    case 'ENOEXEC':
      return new SplicedError('CorruptModule', `the kernel rejected ${path} as an invalid module.${said}`, details);
  }
  return new SplicedError('LoadFailed', `the kernel refused to load ${name}: ${failure.message}.${said}`, details);
}
