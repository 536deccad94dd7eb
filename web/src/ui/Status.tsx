import { Badge } from '@mantine/core';

export const STATUS_COLORS: Record<string, string> = {
  queued: 'gray',
  running: 'blue',
  waiting: 'yellow',
  paused: 'grape',
  completed: 'green',
  failed: 'red',
  cancelled: 'dark',
  retrying: 'orange',
};

export function StatusBadge({ status, size = 'sm' }: { status: string; size?: 'xs' | 'sm' | 'md' }) {
  return (
    <Badge color={STATUS_COLORS[status] ?? 'gray'} variant="light" size={size} data-status={status}>
      {status}
    </Badge>
  );
}

export function ago(iso: string | null | undefined): string {
  if (!iso) return '—';
  const seconds = (Date.now() - new Date(iso).getTime()) / 1000;
  if (seconds < 60) return `${Math.max(0, Math.round(seconds))} s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  return new Date(iso).toLocaleDateString();
}

export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1000) return `${ms.toFixed(ms < 10 ? 1 : 0)} ms`;
  return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
}
