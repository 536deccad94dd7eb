import { createContext, useContext, useSyncExternalStore } from 'react';
import { session } from '../api/client';
import type { Me, Role, WorkspaceRef } from '../api/types';

export interface Who {
  me: Me;
  workspace: WorkspaceRef;
  role: Role;
  local: boolean;
}

export const WhoContext = createContext<Who | null>(null);

export function useWho(): Who {
  const who = useContext(WhoContext);
  if (!who) throw new Error('useWho outside the signed-in app');
  return who;
}

const RANK: Record<Role, number> = { viewer: 1, editor: 2, owner: 3 };

/** Whether the signed-in user's role allows ``role``'s actions (the server checks again). */
export function useCan(role: Role): boolean {
  return RANK[useWho().role] >= RANK[role];
}

export function useSession() {
  return useSyncExternalStore(
    (listener) => session.subscribe(listener),
    () => `${session.accessToken ?? ''}|${session.workspace ?? ''}`,
  );
}
