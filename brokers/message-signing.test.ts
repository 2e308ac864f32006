import { MessageRefusedError } from './errors.js';
import { ReplayGuard, headerValue } from './message-signing.js';

describe('ReplayGuard', () => {
  const refusal = (fn: () => void) => {
    try {
      fn();
      return 'ok';
    } catch (err) {
      return err instanceof MessageRefusedError ? `${err.reason}: ${err.message}` : String(err);
    }
  };

  it('lets a re-delivery at the same offset through, refuses the same token elsewhere until it expires', () => {
    let now = 1_000_000;
    const guard = new ReplayGuard(() => now);
    const exp = (now + 60_000) / 1000;
    expect([
      refusal(() => guard.check('t1', 'topic/0@5', exp)),
      refusal(() => guard.check('t1', 'topic/0@5', exp)),
      refusal(() => guard.check('t1', 'topic/1@9', exp)),
      refusal(() => guard.check('t2', 'topic/1@9', exp)),
    ]).toEqual([
      'ok',
      'ok',
      "replayed: message refused (replayed): the same signed message was first seen at topic/0@5; requests are signed by the controllers' dispatch key, status events by the key in the broker's DeploymentTarget",
      'ok',
    ]);
    now += 61_000;
    // Expired: the signature check refuses it anyway; the guard no longer needs to.
    expect(refusal(() => guard.check('t1', 'topic/2@1', exp))).toBe('ok');
  });
});

describe('headerValue', () => {
  it.each([
    [{ h: Buffer.from('abc') }, 'abc'],
    [{ h: 'abc' }, 'abc'],
    [{ h: [Buffer.from('first'), Buffer.from('second')] }, 'first'],
    [{}, undefined],
    [undefined, undefined],
  ])('%j', (headers, expected) => {
    expect(headerValue(headers, 'h')).toBe(expected);
  });
});
