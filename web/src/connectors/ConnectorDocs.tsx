import { Code, Loader, Modal, ScrollArea } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { request } from '../api/client';
import { ProblemAlert } from '../ui/Problem';

export interface ConnectorDocsView {
  slug: string;
  plugin: string;
  version: string;
  markdown: string;
}

/** The connector's documentation as the server generates it from the installed plugin (auth, actions, triggers). */
export function ConnectorDocs({ slug, onClose }: { slug: string | null; onClose: () => void }) {
  const docs = useQuery({
    queryKey: ['connectors', slug, 'docs'],
    queryFn: () => request<ConnectorDocsView>(`/connectors/${encodeURIComponent(slug ?? '')}/docs`),
    enabled: slug !== null,
  });
  return (
    <Modal opened={slug !== null} onClose={onClose} title={`${slug ?? ''}: documentation`} size="xl">
      <ProblemAlert error={docs.error} />
      {docs.isLoading && <Loader size="sm" />}
      {docs.data && (
        <ScrollArea.Autosize mah="70vh">
          <Code block style={{ whiteSpace: 'pre-wrap' }} data-testid="connector-docs">
            {docs.data.markdown}
          </Code>
        </ScrollArea.Autosize>
      )}
    </Modal>
  );
}
