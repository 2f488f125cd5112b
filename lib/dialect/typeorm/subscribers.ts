import type { DataSource, EntitySubscriberInterface } from 'typeorm';

/**
 * Whether any of a DataSource's subscribers passes `test`, asked per
 * statement or transaction: the answer is kept per DataSource until its
 * number of subscribers changes (DataSource.initialize, or an app adding
 * one to `dataSource.subscribers` later).
 */
export function anySubscriber(test: (subscriber: EntitySubscriberInterface) => boolean): (ds: DataSource) => boolean {
  const answers = new WeakMap<DataSource, { readonly subscribers: number; readonly answer: boolean }>();
  return (ds) => {
    const known = answers.get(ds);
    if (known?.subscribers === ds.subscribers.length) return known.answer;
    const answer = ds.subscribers.some(test);
    answers.set(ds, { subscribers: ds.subscribers.length, answer });
    return answer;
  };
}
