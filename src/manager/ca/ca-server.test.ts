import { describe, expect, it } from 'vitest';
import type { Node, NodeId } from '../../api/index.js';
import { certificateRole } from './ca-server.js';

function node(desiredRole: 'manager' | 'worker', raftMember: boolean): Node {
  return {
    id: 'n1' as NodeId,
    meta: { version: 1, createdAt: 0, updatedAt: 0 },
    spec: { desiredRole, availability: 'active' },
    role: raftMember ? 'manager' : 'worker',
    status: { state: 'ready' },
    ...(raftMember
      ? {
          managerStatus: {
            raftId: 'n1',
            addr: '127.0.0.1:1',
            leader: false,
            reachability: 'reachable' as const,
          },
        }
      : {}),
  };
}

describe('certificateRole', () => {
  it('follows the desired role, but keeps a Raft member a manager until it has left', () => {
    expect(certificateRole(node('manager', false))).toBe('manager');
    expect(certificateRole(node('worker', false))).toBe('worker');
    expect(certificateRole(node('manager', true))).toBe('manager');
    expect(certificateRole(node('worker', true))).toBe('manager');
  });
});
