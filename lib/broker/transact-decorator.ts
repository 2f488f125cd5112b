import type { Observable } from 'rxjs';
import { AccessBroker, transactNamed } from './access-broker';
import { checkTransactOptions, type TransactOptions } from '../transaction/options';

type Method = (this: AccessBroker, ...args: never[]) => unknown;

/**
 * Makes a broker method a transaction method: calling it returns a cold
 * Observable that runs the original body in a transaction, where `this.tx`
 * is the transaction's EntityManager. The body may return a value, a Promise
 * or an Observable. Use it as `@transact` or `@transact({ niceness: 5 })`.
 *
 * ```ts
 * class Stats extends AccessBroker {
 *   @transact({ niceness: 5 })
 *   entryCount(): Observable<number> {
 *     return defer(() => this.tx.query('SELECT count(*) AS n FROM entries')).pipe(map((r) => Number(r[0].n)));
 *   }
 * }
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
  descriptor.value = function transactionMethod(this: AccessBroker, ...args: never[]): Observable<unknown> {
    if (!(this instanceof AccessBroker))
      throw new TypeError(`@transact method ${name} must be called on an AccessBroker`);
    return this[transactNamed](() => original.apply(this, args), options, name);
  };
}
