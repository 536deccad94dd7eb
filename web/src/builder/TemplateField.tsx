import { ActionIcon, Button, Group, Modal, Paper, Text, Textarea, Tooltip } from '@mantine/core';
import { IconArrowsMaximize } from '@tabler/icons-react';
import { Suspense, lazy, useRef, useState } from 'react';
import type { Completion } from './templates';

const MonacoEditor = lazy(() => import('./Monaco'));

interface Props {
  label: string;
  description?: string;
  value: string;
  onChange: (value: string) => void;
  complete: (before: string) => Completion[];
  error?: string;
  readOnly?: boolean;
}

/** A templated input: completion of {{ nodes.X.output… }} paths as you type, Monaco on demand. */
export function TemplateField({ label, description, value, onChange, complete, error, readOnly }: Props) {
  const area = useRef<HTMLTextAreaElement>(null);
  const [items, setItems] = useState<Completion[]>([]);
  const [active, setActive] = useState(0);
  const [expanded, setExpanded] = useState(false);
  const [draft, setDraft] = useState(value);

  const refresh = (text: string, cursor: number) => {
    const found = complete(text.slice(0, cursor));
    setItems(found.slice(0, 12));
    setActive(0);
  };

  const accept = (item: Completion) => {
    const element = area.current;
    if (!element) return;
    const cursor = element.selectionStart;
    const before = value.slice(0, cursor);
    const stem = before.match(/[A-Za-z0-9_]*$/)?.[0] ?? '';
    const next = before.slice(0, before.length - stem.length) + item.insert + value.slice(cursor);
    onChange(next);
    setItems([]);
    const position = cursor - stem.length + item.insert.length;
    requestAnimationFrame(() => {
      element.focus();
      element.setSelectionRange(position, position);
    });
  };

  return (
    <div style={{ position: 'relative' }}>
      <Group justify="space-between" gap={4} wrap="nowrap">
        <Text size="sm" fw={500}>
          {label}
        </Text>
        <Tooltip label="Open in the code editor">
          <ActionIcon
            size="xs"
            variant="subtle"
            onClick={() => {
              setDraft(value);
              setExpanded(true);
            }}
            aria-label={`edit ${label} in the code editor`}
          >
            <IconArrowsMaximize size={12} />
          </ActionIcon>
        </Tooltip>
      </Group>
      {description && (
        <Text size="xs" c="dimmed">
          {description}
        </Text>
      )}
      <Textarea
        ref={area}
        className="mono"
        autosize
        minRows={1}
        maxRows={8}
        value={value}
        readOnly={readOnly}
        error={error}
        aria-label={`input ${label.replace(/ \*$/, '')}`}
        onChange={(e) => {
          onChange(e.currentTarget.value);
          refresh(e.currentTarget.value, e.currentTarget.selectionStart);
        }}
        onBlur={() => setTimeout(() => setItems([]), 150)}
        onKeyDown={(e) => {
          if (!items.length) return;
          if (e.key === 'ArrowDown') {
            e.preventDefault();
            setActive((a) => (a + 1) % items.length);
          } else if (e.key === 'ArrowUp') {
            e.preventDefault();
            setActive((a) => (a - 1 + items.length) % items.length);
          } else if (e.key === 'Enter' || e.key === 'Tab') {
            e.preventDefault();
            accept(items[active]);
          } else if (e.key === 'Escape') {
            setItems([]);
          }
        }}
      />
      {items.length > 0 && (
        <Paper shadow="md" withBorder p={4} style={{ position: 'absolute', zIndex: 20, left: 0, right: 0 }} data-testid="completions">
          {items.map((item, index) => (
            <div
              key={item.label}
              onMouseDown={(e) => {
                e.preventDefault();
                accept(item);
              }}
              style={{ padding: '2px 6px', borderRadius: 4, cursor: 'pointer', background: index === active ? 'var(--mantine-color-indigo-0)' : undefined }}
            >
              <Text size="xs" className="mono" span fw={600}>
                {item.label}
              </Text>{' '}
              <Text size="xs" c="dimmed" span>
                {item.detail}
              </Text>
            </div>
          ))}
        </Paper>
      )}
      <Modal opened={expanded} onClose={() => setExpanded(false)} title={label} size="xl">
        <Suspense fallback={<Text size="sm">Loading the editor…</Text>}>
          <MonacoEditor value={draft} onChange={setDraft} language="template" complete={complete} height={320} readOnly={readOnly} testId="monaco-template" />
        </Suspense>
        <Group justify="flex-end" mt="sm">
          {!readOnly && (
            <Button
              onClick={() => {
                onChange(draft);
                setExpanded(false);
              }}
            >
              Apply
            </Button>
          )}
        </Group>
      </Modal>
    </div>
  );
}
