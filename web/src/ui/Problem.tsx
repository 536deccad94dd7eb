import { Alert, Text } from '@mantine/core';
import { IconAlertTriangle } from '@tabler/icons-react';
import { ApiError } from '../api/client';

/** An API error next to the thing it concerns: the server's detail, its code, and field errors. */
export function ProblemAlert({ error, title }: { error: unknown; title?: string }) {
  if (!error) return null;
  const problem = error instanceof ApiError ? error.problem : null;
  const detail = problem?.detail ?? (error instanceof Error ? error.message : String(error));
  return (
    <Alert color="red" variant="light" icon={<IconAlertTriangle size={18} />} title={title ?? problem?.title ?? 'Error'} data-testid="problem">
      <Text size="sm">{detail}</Text>
      {problem?.errors && problem.errors.length > 1 && (
        <ul style={{ margin: '4px 0 0', paddingLeft: 18 }}>
          {problem.errors.map((e) => (
            <li key={e.location}>
              <Text size="xs">
                <b>{e.location}</b>: {e.message}
              </Text>
            </li>
          ))}
        </ul>
      )}
      {problem && (
        <Text size="xs" c="dimmed" mt={4}>
          {problem.status ? `${problem.status} · ` : ''}
          {problem.code}
        </Text>
      )}
    </Alert>
  );
}

export function problemText(error: unknown): string {
  if (error instanceof ApiError) return error.problem.detail;
  return error instanceof Error ? error.message : String(error);
}
