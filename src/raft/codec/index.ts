export {
  type ConfChangeEnvelope,
  decodeConfChange,
  decodeProposal,
  encodeConfChange,
  encodeProposal,
  type ProposalEnvelope,
} from './entry-data.js';
