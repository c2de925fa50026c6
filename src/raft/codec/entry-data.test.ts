import { describe, expect, it } from 'vitest';
import { isSwarmError } from '../../common/index.js';
import { decodeConfChange, decodeProposal, encodeConfChange, encodeProposal } from './entry-data.js';

describe('entry data codec', () => {
  it('round-trips proposals with and without a session', () => {
    const payload = new Uint8Array([1, 2, 3]);
    expect(decodeProposal(encodeProposal({ requestId: 'n1/7', payload }))).toEqual({
      requestId: 'n1/7',
      payload,
    });
    const withSession = { requestId: 'n1/8', session: { clientId: 'c', seq: 2 ** 40 }, payload };
    expect(decodeProposal(encodeProposal(withSession))).toEqual(withSession);
  });

  it('round-trips every kind of conf change', () => {
    for (const change of [
      { type: 'add-learner', node: 'd' },
      { type: 'promote', node: 'd' },
      { type: 'add-voter', node: 'e' },
      { type: 'remove', node: 'a' },
      { type: 'bootstrap', conf: { voters: ['a', 'b'], learners: ['c'] } },
    ] as const) {
      expect(decodeConfChange(encodeConfChange({ requestId: 'r', change }))).toEqual({
        requestId: 'r',
        change,
      });
    }
  });

  it('reports truncated or foreign data as corruption', () => {
    const data = encodeProposal({ requestId: 'x', payload: new Uint8Array(10) });
    for (const bad of [
      data.subarray(0, data.length - 3),
      new Uint8Array([9, 9]),
      encodeConfChange({ requestId: '', change: { type: 'remove', node: 'a' } }),
    ]) {
      let code = '';
      try {
        decodeProposal(bad);
      } catch (e) {
        code = isSwarmError(e) ? e.code : 'other';
      }
      expect(code).toBe('CORRUPTION');
    }
  });
});
