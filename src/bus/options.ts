// The a{sv} options of Apply and Revert: known keys with their D-Bus types; anything else is an InvalidArgument, so a
// misspelt option fails instead of being silently ignored.

import type { Variant } from 'dbus-next';
import { SplicedError } from '../errors';

type OptionType = 'b' | 'u';
type Value<T extends OptionType> = T extends 'b' ? boolean : number;
export type OptionSpec = Record<string, OptionType>;
export type ParsedOptions<S extends OptionSpec> = { [K in keyof S]?: Value<S[K]> };

export function parseOptions<S extends OptionSpec>(spec: S, options: Record<string, Variant>): ParsedOptions<S> {
  const parsed: Record<string, unknown> = {};
  for (const [key, variant] of Object.entries(options)) {
    const expected = spec[key];
    if (expected === undefined) {
      throw new SplicedError('InvalidArgument', `unknown option "${key}" (known: ${Object.keys(spec).join(', ')})`, {
        option: key,
      });
    }
    if (variant.signature !== expected) {
      throw new SplicedError(
        'InvalidArgument',
        `option "${key}" must have D-Bus type "${expected}", not "${variant.signature}"`,
        { option: key },
      );
    }
    parsed[key] = variant.value;
  }
  return parsed as ParsedOptions<S>;
}
