import { encodeConfChange } from '../codec/index.js';
import type { ConfState, LoadedState } from '../types.js';

/** The durable state of a brand-new cluster member: entry 1 records the initial configuration. */
export function bootstrapState(conf: ConfState): LoadedState {
  const data = encodeConfChange({ requestId: '', change: { type: 'bootstrap', conf } });
  return {
    hardState: { term: 1, vote: null, commit: 1 },
    snapshot: null,
    entries: [{ term: 1, index: 1, type: 'conf-change', data }],
  };
}
