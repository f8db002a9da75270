// The a{sv} options of Apply and Revert: known keys with their D-Bus types; anything else is an InvalidArgument, so a
// misspelt option fails instead of being silently ignored.

import type { Variant } from 'dbus-next';
import { SplicedError } from '../errors';

/** A `u` that must lie in [min, max]. */
export interface BoundedUint {
  min: number;
  max: number;
}
/** An `s` that must match `pattern` whole (and be at most `maxLength` long); `what` names it in the refusal. */
export interface MatchingString {
  pattern: RegExp;
  maxLength: number;
  what: string;
}
type OptionType = 'b' | 'u' | BoundedUint | MatchingString;
type Value<T extends OptionType> = T extends 'b' ? boolean : T extends MatchingString ? string : number;
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
    const signature = typeof expected === 'string' ? expected : 'pattern' in expected ? 's' : 'u';
    if (variant.signature !== signature) {
      throw new SplicedError(
        'InvalidArgument',
        `option "${key}" must have D-Bus type "${signature}", not "${variant.signature}"`,
        { option: key },
      );
    }
    const value = variant.value as unknown;
    if (typeof expected === 'object' && 'pattern' in expected) {
      const text = value as string;
      if (text.length > expected.maxLength || !expected.pattern.test(text)) {
        throw new SplicedError('InvalidArgument', `option "${key}" must be ${expected.what}, got "${text.slice(0, 64)}"`, { option: key });
      }
    } else if (typeof expected === 'object' && ((value as number) < expected.min || (value as number) > expected.max)) {
      throw new SplicedError(
        'InvalidArgument',
        `option "${key}" must be between ${expected.min} and ${expected.max}, got ${String(value)}`,
        { option: key },
      );
    }
    parsed[key] = value;
  }
  return parsed as ParsedOptions<S>;
}
