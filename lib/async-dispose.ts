/**
 * Makes sure `Symbol.asyncDispose` exists, so that brokers and stores can be
 * held with `await using`. Node added it in 20.4; on 20.0–20.3 this defines
 * it as the registered symbol later Node versions use, which TypeScript's
 * `await using` helpers then find too. Imported by every file that defines a
 * `[Symbol.asyncDispose]` method, before the class is made.
 */
(Symbol as { asyncDispose?: symbol }).asyncDispose ??= Symbol.for('nodejs.asyncDispose');

export {};
