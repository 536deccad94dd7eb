import { Accordion, Badge, Group, ScrollArea, SegmentedControl, Stack, Text, TextInput, Tooltip } from '@mantine/core';
import { IconSearch } from '@tabler/icons-react';
import { memo, useMemo, useState } from 'react';
import type { NodeType } from '../api/types';
import { ProblemAlert } from '../ui/Problem';
import { NodeIcon } from './icons';

export const DRAG_TYPE = 'application/x-synthral-node';

interface Props {
  types: NodeType[];
  error: unknown;
  onAdd: (type: NodeType) => void;
  disabled: boolean;
}

const KINDS = [
  { value: 'all', label: 'All' },
  { value: 'builtin', label: 'Built-in' },
  { value: 'plugins', label: 'Plugins' },
];

function PaletteInner({ types, error, onAdd, disabled }: Props) {
  const [query, setQuery] = useState('');
  const [kind, setKind] = useState('all');
  const groups = useMemo(() => {
    const needle = query.trim().toLowerCase();
    const shown = types.filter(
      (t) =>
        (kind === 'all' || (kind === 'builtin') === t.builtin) &&
        (!needle || [t.title, t.type, t.description, t.category, t.plugin].some((s) => s?.toLowerCase().includes(needle))),
    );
    const byCategory = new Map<string, NodeType[]>();
    for (const t of shown) byCategory.set(t.category || t.kind, [...(byCategory.get(t.category || t.kind) ?? []), t]);
    return [...byCategory].sort(([a], [b]) => a.localeCompare(b));
  }, [types, query, kind]);

  return (
    <Stack gap="xs" h="100%" p="xs" data-testid="palette">
      <TextInput size="xs" placeholder="Search nodes" leftSection={<IconSearch size={14} />} value={query} onChange={(e) => setQuery(e.currentTarget.value)} aria-label="search nodes" />
      <SegmentedControl size="xs" data={KINDS} value={kind} onChange={setKind} />
      <ProblemAlert error={error} title="The node palette could not be loaded" />
      <ScrollArea style={{ flex: 1 }}>
        <Accordion multiple defaultValue={groups.map(([g]) => g)} key={groups.map(([g]) => g).join('|')} variant="filled" chevronPosition="left">
          {groups.map(([category, items]) => (
            <Accordion.Item value={category} key={category}>
              <Accordion.Control py={2}>
                <Text size="xs" fw={600} tt="uppercase" c="dimmed">
                  {category} ({items.length})
                </Text>
              </Accordion.Control>
              <Accordion.Panel>
                {items.map((t) => (
                  <Tooltip key={t.type} label={t.description || t.type} multiline w={260} openDelay={500} position="right">
                    <div
                      className="palette-item"
                      draggable={!disabled}
                      data-testid={`palette-${t.type}`}
                      onDragStart={(e) => {
                        e.dataTransfer.setData(DRAG_TYPE, t.type);
                        e.dataTransfer.effectAllowed = 'move';
                      }}
                      onDoubleClick={() => !disabled && onAdd(t)}
                    >
                      <Group gap={8} wrap="nowrap">
                        <NodeIcon icon={t.icon} type={t.type} />
                        <div style={{ minWidth: 0, flex: 1 }}>
                          <Text size="sm" fw={500} truncate>
                            {t.title}
                          </Text>
                          <Text size="xs" c="dimmed" className="mono" truncate>
                            {t.type}
                          </Text>
                        </div>
                        {!t.builtin && (
                          <Badge size="xs" variant="outline" title={t.versions.join(', ')}>
                            {t.version}
                          </Badge>
                        )}
                      </Group>
                    </div>
                  </Tooltip>
                ))}
              </Accordion.Panel>
            </Accordion.Item>
          ))}
        </Accordion>
        {types.length > 0 && groups.length === 0 && (
          <Text size="xs" c="dimmed" ta="center" py="md">
            No node matches.
          </Text>
        )}
      </ScrollArea>
      <Text size="xs" c="dimmed">
        Drag a node onto the canvas, or double-click it.
      </Text>
    </Stack>
  );
}

export const Palette = memo(PaletteInner);
