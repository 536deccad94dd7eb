// Server state: every read is a cached query, every write invalidates what it changed.
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { request } from './client';
import type {
  Account,
  ApiKey,
  Connector,
  Credential,
  ExecutionDetail,
  Execution,
  Health,
  Me,
  Member,
  NodeType,
  Page,
  PluginDetail,
  PluginInfo,
  PluginProcess,
  Schedule,
  VersionSummary,
  WebhookInfo,
  Workflow,
  WorkflowDetail,
  WorkflowSaved,
  WorkflowSummary,
} from './types';

/** A short listing's items: every listing answers `{items, next_cursor}`; these come in one page. */
const items = async <T,>(path: string): Promise<T[]> => (await request<Page<T>>(path)).items;

export const keys = {
  me: ['me'] as const,
  account: ['account'] as const,
  workflows: ['workflows'] as const,
  workflow: (id: string, version?: number) => ['workflow', id, version ?? 'latest'] as const,
  versions: (id: string) => ['versions', id] as const,
  executions: (filters: ExecutionFilters) => ['executions', filters] as const,
  execution: (id: string) => ['execution', id] as const,
  nodes: ['nodes'] as const,
  plugins: ['plugins'] as const,
  plugin: (name: string) => ['plugin', name] as const,
  connectors: ['connectors'] as const,
  credentials: ['credentials'] as const,
  members: ['members'] as const,
  apiKeys: ['api-keys'] as const,
  schedules: (id: string) => ['schedules', id] as const,
  webhook: (id: string) => ['webhook', id] as const,
  health: ['health'] as const,
  processes: ['processes'] as const,
};

export const useMe = (enabled = true) =>
  useQuery({ queryKey: keys.me, queryFn: () => request<Me>('/auth/me'), enabled, retry: false });
export const useAccount = () => useQuery({ queryKey: keys.account, queryFn: () => request<Account>('/auth/account') });

export function useWorkflows() {
  return useInfiniteQuery({
    queryKey: keys.workflows,
    queryFn: ({ pageParam }) =>
      request<Page<WorkflowSummary>>(`/workflows?limit=200${pageParam ? `&cursor=${encodeURIComponent(pageParam)}` : ''}`),
    initialPageParam: '',
    getNextPageParam: (last) => last.next_cursor ?? undefined,
  });
}

export const useWorkflow = (id: string | undefined, version?: number) =>
  useQuery({
    queryKey: keys.workflow(id ?? '', version),
    queryFn: () => request<WorkflowDetail>(`/workflows/${id}${version ? `?version=${version}` : ''}`),
    enabled: Boolean(id),
  });

export const useVersions = (id: string | undefined) =>
  useQuery({
    queryKey: keys.versions(id ?? ''),
    queryFn: () => items<VersionSummary>(`/workflows/${id}/versions`),
    enabled: Boolean(id),
  });

export interface ExecutionFilters {
  status?: string;
  workflow?: string;
  since?: string;
}

export function useExecutions(filters: ExecutionFilters) {
  return useInfiniteQuery({
    queryKey: keys.executions(filters),
    queryFn: ({ pageParam }) => {
      const params = new URLSearchParams({ limit: '50' });
      if (filters.status) params.set('status', filters.status);
      if (filters.workflow) params.set('workflow', filters.workflow);
      if (pageParam) params.set('cursor', pageParam);
      return request<Page<Execution>>(`/executions?${params}`);
    },
    initialPageParam: '',
    getNextPageParam: (last) => last.next_cursor ?? undefined,
  });
}

export const useExecution = (id: string | undefined) =>
  useQuery({
    queryKey: keys.execution(id ?? ''),
    queryFn: () => request<ExecutionDetail>(`/executions/${id}`),
    enabled: Boolean(id),
  });

export const useNodeTypes = () =>
  useQuery({
    queryKey: keys.nodes,
    queryFn: async () => {
      const items: NodeType[] = [];
      let cursor: string | null = '';
      while (cursor !== null) {
        const page: Page<NodeType> = await request<Page<NodeType>>(
          `/nodes${cursor ? `?cursor=${encodeURIComponent(cursor)}` : ''}`,
        );
        items.push(...page.items);
        cursor = page.next_cursor;
      }
      return items;
    },
    staleTime: 30_000,
  });

export const usePlugins = () => useQuery({ queryKey: keys.plugins, queryFn: () => items<PluginInfo>('/plugins') });
export const usePlugin = (name: string) =>
  useQuery({ queryKey: keys.plugin(name), queryFn: () => request<PluginDetail>(`/plugins/${encodeURIComponent(name)}`) });
export const useConnectors = () =>
  useQuery({ queryKey: keys.connectors, queryFn: () => items<Connector>('/connectors/list') });
export const useCredentials = (enabled = true) =>
  useQuery({ queryKey: keys.credentials, queryFn: () => items<Credential>('/credentials'), enabled });
export const useMembers = () => useQuery({ queryKey: keys.members, queryFn: () => items<Member>('/workspace/members') });
export const useApiKeys = () => useQuery({ queryKey: keys.apiKeys, queryFn: () => items<ApiKey>('/auth/api-keys') });
export const useSchedules = (id: string) =>
  useQuery({ queryKey: keys.schedules(id), queryFn: () => items<Schedule>(`/workflows/${id}/schedules?upcoming=5`) });
export const useWebhook = (id: string) =>
  useQuery({ queryKey: keys.webhook(id), queryFn: () => request<WebhookInfo>(`/workflows/${id}/webhook`) });
export const useHealth = () =>
  useQuery({ queryKey: keys.health, queryFn: () => request<Health>('/admin/health'), refetchInterval: 5000 });
export const useProcesses = () =>
  useQuery({ queryKey: keys.processes, queryFn: () => items<PluginProcess>('/admin/processes'), refetchInterval: 5000 });

export function useSaveWorkflow() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: ({ id, workflow }: { id?: string; workflow: Workflow }) =>
      request<WorkflowSaved>(id ? `/workflows/${id}` : '/workflows', { method: id ? 'PUT' : 'POST', body: workflow }),
    onSuccess: (saved) => {
      void client.invalidateQueries({ queryKey: keys.workflows });
      void client.invalidateQueries({ queryKey: ['workflow', saved.id] });
      void client.invalidateQueries({ queryKey: keys.versions(saved.id) });
      void client.invalidateQueries({ queryKey: keys.schedules(saved.id) });
      void client.invalidateQueries({ queryKey: keys.webhook(saved.id) });
    },
  });
}

export function useInvalidate() {
  const client = useQueryClient();
  return (key: readonly unknown[]) => client.invalidateQueries({ queryKey: key });
}
