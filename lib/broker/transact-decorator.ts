import type { Awaitable } from '../transaction/awaitable';
import { AccessBroker, transactNamed } from './access-broker';
import { checkTransactOptions, type TransactOptions } from '../transaction/options';

type Method = (this: AccessBroker, ...args: never[]) => unknown;

/**
 * Makes a broker method a transaction method: calling it returns a cold
 * {@link Awaitable} that runs the original body in a transaction, where
 * `this.tx` is the transaction's EntityManager: subscribing runs it once
 * per subscription, and so does each `await`. The body may return a value,
 * a Promise or an Observable. Use it as `@transact` or
 * `@transact({ niceness: 5 })`.
 *
 * Types: a decorator cannot change a method's declared type, so declare
 * what callers use. An `async` body declared `Promise<T>` is honest for
 * `await`, `then`, `catch` and `finally` (each runs it once; an Awaitable
 * has all four); to subscribe to it, `from(broker.method())`, which RxJS
 * takes as the Observable it is (cold, cancelled by unsubscribing). A body
 * declared `Observable<T>` is honest for subscribing and for
 * `lastValueFrom`. For a method typed as both, use
 * `readonly method = this.transaction(async (tx, …) => …)`, whose calls
 * are typed `Awaitable<T>`.
 *
 * ```ts
 * class Stats extends AccessBroker {
 *   @transact({ niceness: 5 })
 *   async entryCount(): Promise<number> {
 *     const [row] = await this.tx.query('SELECT count(*) AS n FROM entries');
 *     return Number(row.n);
 *   }
 * }
 * const n = await stats.entryCount(); // one transaction
 * from(stats.entryCount()).subscribe(console.log); // another
 * ```
 */
export function transact(options?: TransactOptions): MethodDecorator;
export function transact(target: object, key: string | symbol, descriptor: PropertyDescriptor): void;
export function transact(
  optionsOrTarget?: TransactOptions | object,
  key?: string | symbol,
  descriptor?: PropertyDescriptor,
): MethodDecorator | void {
  if (descriptor !== undefined && key !== undefined) return decorate(key, descriptor, undefined);
  const options = optionsOrTarget as TransactOptions | undefined;
  checkTransactOptions(options);
  return ((_target: object, k: string | symbol, d: PropertyDescriptor) => decorate(k, d, options)) as MethodDecorator;
}

function decorate(key: string | symbol, descriptor: PropertyDescriptor, options: TransactOptions | undefined): void {
  const original = descriptor.value as Method;
  if (typeof original !== 'function') throw new TypeError(`@transact decorates methods; ${String(key)} is not one`);
  const name = String(key);
  descriptor.value = function transactionMethod(this: AccessBroker, ...args: never[]): Awaitable<unknown> {
    if (!(this instanceof AccessBroker))
      throw new TypeError(`@transact method ${name} must be called on an AccessBroker`);
    return this[transactNamed](() => original.apply(this, args), options, name);
  };
}
