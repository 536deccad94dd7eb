import { Anchor, Image, Stack, Text } from '@mantine/core';
import { useEffect, useState } from 'react';
import { blobUrl } from '../api/client';
import type { JsonValue } from '../api/types';

interface BlobRef {
  $blob: string;
  size?: number;
  mediaType?: string;
  media_type?: string;
  name?: string;
}

export function blobRefs(value: JsonValue | undefined, found: BlobRef[] = []): BlobRef[] {
  if (Array.isArray(value)) value.forEach((v) => blobRefs(v, found));
  else if (value && typeof value === 'object') {
    if (typeof value.$blob === 'string') found.push(value as unknown as BlobRef);
    else Object.values(value).forEach((v) => blobRefs(v, found));
  }
  return found;
}

function BlobPreview({ executionId, blob }: { executionId: string; blob: BlobRef }) {
  const type = blob.mediaType ?? blob.media_type ?? 'application/octet-stream';
  const [url, setUrl] = useState<string | null>(null);
  const [text, setText] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const inline = type.startsWith('image/') || type.startsWith('text/') || type === 'application/json';
  useEffect(() => {
    if (!inline) return;
    let revoke: string | null = null;
    blobUrl(executionId, blob.$blob)
      .then(async (made) => {
        revoke = made;
        if (type.startsWith('image/')) setUrl(made);
        else {
          const body = await (await fetch(made)).text();
          try {
            setText(type === 'application/json' ? JSON.stringify(JSON.parse(body), null, 2) : body);
          } catch {
            setText(body);
          }
        }
      })
      .catch((e: Error) => setError(e.message));
    return () => {
      if (revoke) URL.revokeObjectURL(revoke);
    };
  }, [executionId, blob.$blob, type, inline]);
  return (
    <Stack gap={2} data-testid="blob-preview">
      <Text size="xs" c="dimmed">
        {blob.name ?? blob.$blob.slice(7, 19)} · {type} · {blob.size ?? '?'} bytes
      </Text>
      {error && <Text size="xs" c="red">{error}</Text>}
      {url && <Image src={url} alt={blob.name ?? 'blob'} maw={320} radius="sm" />}
      {text !== null && <pre className="json">{text.slice(0, 20000)}</pre>}
      {!inline && (
        <Anchor size="xs" onClick={() => void blobUrl(executionId, blob.$blob).then((u) => window.open(u))}>
          Download
        </Anchor>
      )}
    </Stack>
  );
}

/** JSON pretty-printed, with every blob it refers to previewed below it. */
export function Preview({ executionId, value }: { executionId: string; value: JsonValue | undefined }) {
  if (value === undefined || value === null) return <Text size="xs" c="dimmed">—</Text>;
  const blobs = blobRefs(value);
  return (
    <Stack gap={4}>
      <pre className="json">{JSON.stringify(value, null, 2)}</pre>
      {blobs.slice(0, 6).map((b) => (
        <BlobPreview key={b.$blob} executionId={executionId} blob={b} />
      ))}
    </Stack>
  );
}
