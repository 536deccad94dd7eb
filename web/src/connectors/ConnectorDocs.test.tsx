import { MantineProvider } from '@mantine/core';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { cleanup, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConnectorDocs } from './ConnectorDocs';

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

function show(slug: string | null) {
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  render(
    <MantineProvider>
      <QueryClientProvider client={client}>
        <ConnectorDocs slug={slug} onClose={() => undefined} />
      </QueryClientProvider>
    </MantineProvider>,
  );
}

describe('connector docs', () => {
  it('shows the markdown the server generated for the connector', async () => {
    const fetched = vi.fn(async (_url: string) =>
      new Response(JSON.stringify({ slug: 'github', plugin: 'connector-github', version: '0.1.0', markdown: '# GitHub connector\n\n### `create_issue`' }), {
        status: 200,
        headers: { 'content-type': 'application/json' },
      }),
    );
    vi.stubGlobal('fetch', fetched);
    show('github');
    expect((await screen.findByTestId('connector-docs')).textContent).toContain('### `create_issue`');
    expect(String(fetched.mock.calls[0][0])).toContain('/connectors/github/docs');
  });

  it('asks for nothing while closed', () => {
    const fetched = vi.fn();
    vi.stubGlobal('fetch', fetched);
    show(null);
    expect(fetched).not.toHaveBeenCalled();
  });
});
