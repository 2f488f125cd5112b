import { getEventListeners } from 'node:events';
import { CancelToken, untilAborted } from '../lib/cancel';
import { latch } from './support/brokers';

describe('CancelToken', () => {
  it('aborts once, calling each listener with the first reason; a removed listener is not called', () => {
    const token = new CancelToken();
    const heard: unknown[] = [];
    token.onAbort((reason) => heard.push(['kept', reason]));
    token.onAbort((reason) => heard.push(['removed', reason]))();
    token.abort('first');
    token.abort('second');
    expect(token).toMatchObject({ aborted: true, reason: 'first' });
    expect(heard).toEqual([['kept', 'first']]);
  });

  it('reports to its reporter once at most, and says whether anyone was told', () => {
    const token = new CancelToken();
    const told: Error[] = [];
    expect(token.report(new Error('nobody listens'))).toBe(false);
    token.reportTo((error) => told.push(error));
    expect(token.report(new Error('once'))).toBe(true);
    expect(token.report(new Error('twice'))).toBe(false);
    expect(told.map((e) => e.message)).toEqual(['once']);
  });
});

describe('CancelToken.follow(signal)', () => {
  it("aborts the token with the signal's reason when the signal aborts", () => {
    const controller = new AbortController();
    const token = new CancelToken();
    token.follow(controller.signal);
    const reason = new Error('the caller gave up');
    controller.abort(reason);
    expect(token).toMatchObject({ aborted: true, reason });
  });

  it('aborts at once when the signal has already aborted, and adds no listener', () => {
    const signal = AbortSignal.abort('too late');
    const token = new CancelToken();
    token.follow(signal)();
    expect(token).toMatchObject({ aborted: true, reason: 'too late' });
    expect(getEventListeners(signal, 'abort')).toHaveLength(0);
  });

  it('does nothing without a signal', () => {
    const token = new CancelToken();
    token.follow(undefined)();
    expect(token.aborted).toBe(false);
  });

  it('puts one listener on a signal however many tokens follow it, and none once all are removed', () => {
    const controller = new AbortController();
    const tokens = Array.from({ length: 50 }, () => new CancelToken());
    const removals = tokens.map((token) => token.follow(controller.signal));
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
    removals.forEach((remove) => remove());
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    controller.abort();
    expect(tokens.some((t) => t.aborted)).toBe(false);
  });

  it('aborts only the tokens still following', () => {
    const controller = new AbortController();
    const [left, stayed] = [new CancelToken(), new CancelToken()];
    left.follow(controller.signal)();
    stayed.follow(controller.signal);
    controller.abort('stop');
    expect([left.aborted, stayed.aborted]).toEqual([false, true]);
  });

  it("a removal called twice leaves a later follower's listener alone", () => {
    const controller = new AbortController();
    const remove = new CancelToken().follow(controller.signal);
    remove();
    const later = new CancelToken();
    later.follow(controller.signal);
    remove();
    controller.abort('stop');
    expect(later.aborted).toBe(true);
  });
});

describe('untilAborted(promise, token)', () => {
  it('settles as the promise does while the token stands', async () => {
    const token = new CancelToken();
    const heard = jest.fn();
    await expect(untilAborted(Promise.resolve(1), token)).resolves.toBe(1);
    await expect(untilAborted(Promise.reject(new Error('no')), token)).rejects.toThrow('no');
    token.onAbort(heard);
    token.abort('late');
    expect(heard).toHaveBeenCalledTimes(1);
  });

  it("rejects with the token's reason when it aborts first, though the promise never settles", async () => {
    const token = new CancelToken();
    const waiting = untilAborted(latch().promise, token);
    const reason = new Error('cancelled');
    token.abort(reason);
    await expect(waiting).rejects.toBe(reason);
  });

  it('rejects at once when the token has already aborted', async () => {
    const token = new CancelToken();
    token.abort(new Error('before'));
    await expect(untilAborted(Promise.reject(new Error('ignored')), token)).rejects.toThrow('before');
  });
});
