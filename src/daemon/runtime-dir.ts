// Where systemd put the daemon's runtime directory: the build unit's job files and the reboot flag's request live there.

/** The daemon's own runtime directory (/run/spliced) when systemd gave it one (RuntimeDirectory=; the first if several). */
export function systemdRuntimeDir(): string | undefined {
  return process.env.RUNTIME_DIRECTORY?.split(':')[0];
}
