import { createHash } from 'node:crypto';

/** Makes a cache key from a function's namespace and arguments (see `cacheOn`). */
export type KeyMaker = (namespace: string, args: readonly unknown[]) => string;

/** Turns a key into the key the backend sees (shorter, say, or with a prefix). */
export type KeyMangler = (key: string) => string;

/**
 * The default key maker: the namespace and the arguments as JSON,
 * `"report:[2024,\"top\"]"`. Arguments that JSON cannot tell apart (a Map,
 * a class instance) need a key maker of their own.
 * @throws TypeError for an argument JSON cannot write (a BigInt, a cycle).
 */
export const jsonKeyMaker: KeyMaker = (namespace, args) => {
  try {
    return `${namespace}:${JSON.stringify(args)}`;
  } catch (cause) {
    throw new TypeError(
      `cacheOn cannot make a key of the arguments of ${namespace} (${String(cause)}): give cacheOn a keyMaker`,
      { cause },
    );
  }
};

/**
 * A mangler that replaces each key by its SHA-256 in hex (64 characters):
 * keys of any length fit a store's 255-character names, and a key's text
 * (which may hold arguments) is not stored.
 */
export const sha256KeyMangler: KeyMangler = (key) => createHash('sha256').update(key).digest('hex');
