/**
 * Options as class fields or constructor options, with the constructor winning.
 *
 * JavaScript runs a subclass's field initializers after the base constructor,
 * so they would replace what the constructor set. The one hook is a base
 * constructor that returns a `Proxy`: its `defineProperty` trap ignores a
 * field initializer for an option given to the constructor and validates
 * every other write of an option. A native field (`[[Define]]`) arrives as a
 * full data descriptor; a field compiled to an assignment (TypeScript's
 * `useDefineForClassFields: false`, `[[Set]]`) arrives as a plain assignment
 * and is told apart by its writer: a constructor of the instance's own class
 * chain (see docs/decisions.md). Hot paths use `raw(node)`, the object behind
 * the proxy, so per-item work never goes through a trap.
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
/**
 * The constructor frame that made the write the trap is handling, if any:
 * its function name (`""` for an anonymous class). V8's structured call
 * sites; elsewhere (no `CallSite` array) `undefined`, so the write applies.
 * Only reached for an assignment of an option given to the constructor.
 */
function writerConstructor(trap: (...args: never[]) => unknown): string | undefined {
  const prepare = Error.prepareStackTrace;
  const limit = Error.stackTraceLimit;
  const holder: { stack?: unknown } = {};
  try {
    Error.prepareStackTrace = (_error, sites) => sites;
    Error.stackTraceLimit = 1;
    // Frames above and including the trap are dropped: the first site is the writer.
    Error.captureStackTrace(holder, trap);
    const site = Array.isArray(holder.stack) ? (holder.stack[0] as NodeJS.CallSite | undefined) : undefined;
    if (site === undefined || typeof site.isConstructor !== "function" || !site.isConstructor()) return undefined;
    return site.getFunctionName() ?? "";
  } catch {
    return undefined;
  } finally {
    Error.prepareStackTrace = prepare;
    Error.stackTraceLimit = limit;
  }
}

/** Names of the constructors of `target`'s class chain (most derived first). */
function chainNames(target: object): Set<string> {
  const names = new Set<string>();
  for (let proto = Object.getPrototypeOf(target); proto !== null; proto = Object.getPrototypeOf(proto)) {
    const ctor = Object.hasOwn(proto, "constructor") ? (proto as { constructor: unknown }).constructor : undefined;
    if (typeof ctor === "function") names.add(ctor.name);
  }
  return names;
}

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
  const handler: ProxyHandler<T> = {
    defineProperty: function defineOption(t, key, descriptor) {
      // Own keys only: a field named like an Object.prototype member (`toString = ...`) is not an option.
      if (typeof key === "string" && Object.hasOwn(validators, key) && "value" in descriptor) {
        if (given.has(key)) {
          // A native field initializer defines a full data property; an assignment sets only the value.
          if (descriptor.writable && descriptor.enumerable && descriptor.configurable) return true;
          // An assignment from a constructor of the instance's own chain is a [[Set]] field initializer
          // (or constructor code, treated alike): the constructor option wins over it too.
          const writer = writerConstructor(defineOption);
          if (writer !== undefined && chainNames(t).has(writer)) return true;
        }
        const validate = validators[key] as Validator;
        return Reflect.defineProperty(t, key, { ...descriptor, value: validate(descriptor.value) });
      }
      return Reflect.defineProperty(t, key, descriptor);
    },
  };
  return new Proxy(target, handler);
}
