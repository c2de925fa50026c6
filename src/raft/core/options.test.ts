import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../common/index.js';
import { DEFAULT_RAFT_OPTIONS, type RaftOptions, resolveRaftOptions } from './options.js';

describe('resolveRaftOptions', () => {
  it('fills the documented defaults', () => {
    expect(resolveRaftOptions()).toEqual(DEFAULT_RAFT_OPTIONS);
    expect(resolveRaftOptions()).toMatchObject({
      tickMs: 100,
      heartbeatTicks: 1,
      electionTicks: 10,
      preVote: true,
      checkQuorum: true,
      readOnly: 'safe',
      snapshotEveryEntries: 10_000,
      keepEntriesAfterSnapshot: 500,
    });
  });

  it.each<[RaftOptions, string]>([
    [{ tickMs: 0 }, 'tickMs'],
    [{ electionTicks: 1.5 }, 'electionTicks'],
    [{ heartbeatTicks: 10, electionTicks: 10 }, 'electionTicks'],
    [{ maxInflightMsgs: -1 }, 'maxInflightMsgs'],
    [{ readOnly: 'lease', checkQuorum: false }, 'readOnly'],
    [{ readOnly: 'fast' as 'safe' }, 'readOnly'],
    [{ preVote: 'yes' as unknown as boolean }, 'preVote'],
    [{ bogus: 1 } as RaftOptions, 'bogus'],
  ])('rejects %o naming the field', (options, field) => {
    let err: unknown;
    try {
      resolveRaftOptions(options);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as InvalidArgumentError).field).toBe(field);
  });
});
