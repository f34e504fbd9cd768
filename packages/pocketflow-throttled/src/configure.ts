/**
 * Options as class fields or constructor options, with the constructor winning.
 *
 * JavaScript runs a subclass's field initializers after the base constructor,
 * as `[[Define]]`s that would replace what the constructor set. The one hook
 * is a base constructor that returns a `Proxy`: its `defineProperty` trap
 * ignores a field initializer for an option given to the constructor and
 * validates every other write of an option. Hot paths use `raw(node)`, the
 * object behind the proxy, so per-item work never goes through a trap.
 */

/** Validates (and may normalize) one option's value. */
export type Validator = (value: unknown) => unknown;

const RAW: unique symbol = Symbol("pocketflow-throttled.raw");

/** The object behind a configured instance's proxy (the instance itself for copies). */
export function raw<T extends object>(instance: T): T {
  return (instance as { [RAW]?: T })[RAW] ?? instance;
}

/**
 * Applies `options` (validated) and `defaults` to `target` and returns the
 * proxy that keeps them over subclass field initializers.
 */
export function configure<T extends object>(
  target: T,
  options: object | undefined,
  validators: Readonly<Record<string, Validator>>,
  defaults: Readonly<Record<string, unknown>>,
): T {
  const record = target as Record<string, unknown>;
  const given = new Set<string>();
  const opts = (options ?? {}) as Record<string, unknown>;
  if (options !== undefined && (options === null || typeof options !== "object")) {
    throw new TypeError(`${target.constructor.name} options must be an object, got ${String(options)}`);
  }
  for (const key of Object.keys(opts)) {
    if (!Object.hasOwn(validators, key)) {
      throw new TypeError(
        `${target.constructor.name} has no option "${key}"; known options: ${Object.keys(validators).join(", ")}`,
      );
    }
  }
  for (const [key, validate] of Object.entries(validators)) {
    const value = opts[key];
    if (value !== undefined) {
      record[key] = validate(value);
      given.add(key);
    } else if (!Object.hasOwn(record, key) && key in defaults) {
      record[key] = defaults[key];
    }
  }
  Object.defineProperty(target, RAW, { value: target, enumerable: false });
  return new Proxy(target, {
    defineProperty(t, key, descriptor) {
      // Own keys only: a field named like an Object.prototype member (`toString = ...`) is not an option.
      if (typeof key === "string" && Object.hasOwn(validators, key) && "value" in descriptor) {
        // A field initializer (or a first assignment) defines a full data property; a later assignment sets only the value.
        const initializer = descriptor.writable && descriptor.enumerable && descriptor.configurable;
        if (initializer && given.has(key)) return true;
        const validate = validators[key] as Validator;
        return Reflect.defineProperty(t, key, { ...descriptor, value: validate(descriptor.value) });
      }
      return Reflect.defineProperty(t, key, descriptor);
    },
  });
}
