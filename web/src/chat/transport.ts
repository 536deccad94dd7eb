// The chat over the signed-in session: the app's access token and workspace, refreshed on 401.
import { API, session } from '../api/client';
import type { Transport } from './useCopilot';

export const appTransport: Transport = {
  url: `${API}/chat`,
  headers: () => {
    const headers: Record<string, string> = {};
    if (session.accessToken) headers.authorization = `Bearer ${session.accessToken}`;
    if (session.workspace) headers['x-workspace'] = session.workspace;
    return headers;
  },
  refresh: () => session.refresh(),
};
