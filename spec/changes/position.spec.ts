import { horizonText, parseHorizon } from '../../lib/changes/position';

describe('retention marks as text', () => {
  it('round-trips a horizon, with and without the pruned transactions listed', () => {
    const position = { xid: 12n, id: 345n };
    expect(parseHorizon(horizonText(position))).toEqual({ position });
    expect(parseHorizon(horizonText(position, [7n, 12n]))).toEqual({ position, xids: [7n, 12n] });
  });

  it('refuses what is no mark (a reader then resyncs)', () => {
    for (const bad of [null, '', 'garbage', '1:2;', '1:2;a', '1:2;3,', '-1:2', '1:2:3']) {
      expect(parseHorizon(bad)).toBeUndefined();
    }
  });
});
