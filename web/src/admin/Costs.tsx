import { Card, Group, SegmentedControl, SimpleGrid, Stack, Text, Title } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { request } from '../api/client';
import { ProblemAlert } from '../ui/Problem';
import { BarChart } from './BarChart';

/** One group's spending, as GET /analytics/costs answers it. */
export interface CostRow {
  key: string;
  label: string;
  llm_usd: number;
  llm_calls: number;
  unpriced_calls: number;
  tokens_input: number;
  tokens_output: number;
  code_cpu_seconds: number;
  ocr_pages: number;
}

export interface CostReport {
  group_by: string;
  since: string;
  until: string;
  items: CostRow[];
  totals: CostRow;
}

type Meter = 'llm_usd' | 'tokens' | 'code_cpu_seconds' | 'ocr_pages';

const METERS: { value: Meter; label: string }[] = [
  { value: 'llm_usd', label: 'LLM $' },
  { value: 'tokens', label: 'Tokens' },
  { value: 'code_cpu_seconds', label: 'Code CPU s' },
  { value: 'ocr_pages', label: 'OCR pages' },
];

export function meterOf(row: CostRow, meter: Meter): number {
  return meter === 'tokens' ? row.tokens_input + row.tokens_output : row[meter];
}

export function formatMeter(meter: Meter): (value: number) => string {
  if (meter === 'llm_usd') return (v) => (v >= 100 ? `$${v.toFixed(0)}` : `$${v.toFixed(v >= 1 ? 2 : 4)}`);
  if (meter === 'code_cpu_seconds') return (v) => `${v.toFixed(v >= 10 ? 0 : 2)} s`;
  return (v) => (v >= 10000 ? `${(v / 1000).toFixed(1)}k` : `${Math.round(v)}`);
}

/** Every day of the range, so a quiet day shows as a gap rather than vanishing. */
export function fillDays(rows: CostRow[], since: string, until: string): CostRow[] {
  const byDay = new Map(rows.map((r) => [r.key, r]));
  const days: CostRow[] = [];
  const cursor = new Date(since.slice(0, 10) + 'T00:00:00Z');
  const end = new Date(until.slice(0, 10) + 'T00:00:00Z');
  while (cursor <= end && days.length < 400) {
    const key = cursor.toISOString().slice(0, 10);
    days.push(byDay.get(key) ?? { key, label: key, llm_usd: 0, llm_calls: 0, unpriced_calls: 0, tokens_input: 0, tokens_output: 0, code_cpu_seconds: 0, ocr_pages: 0 });
    cursor.setUTCDate(cursor.getUTCDate() + 1);
  }
  return days;
}

const useCosts = (groupBy: string) =>
  useQuery({ queryKey: ['analytics', 'costs', groupBy], queryFn: () => request<CostReport>(`/analytics/costs?group_by=${groupBy}`), refetchInterval: 60000 });

function Total({ label, value }: { label: string; value: string }) {
  return (
    <div>
      <Text size="xs" c="dimmed" tt="uppercase" fw={600}>
        {label}
      </Text>
      <Text fw={700} data-testid={`cost-${label}`}>
        {value}
      </Text>
    </div>
  );
}

/** The admin page's cost panel: totals over 30 days, then charts by day, by workflow and by model. */
export default function Costs() {
  const [meter, setMeter] = useState<Meter>('llm_usd');
  const days = useCosts('day');
  const workflows = useCosts('workflow');
  const models = useCosts('model');
  const format = formatMeter(meter);
  const totals = days.data?.totals;
  const toBars = (rows: CostRow[]) => rows.map((r) => ({ key: r.key, label: r.label, value: meterOf(r, meter) }));
  const ranked = (rows: CostRow[]) => toBars(rows).filter((b) => b.value > 0).sort((a, b) => b.value - a.value).slice(0, 10);
  return (
    <Card withBorder data-testid="costs">
      <Group justify="space-between" mb="xs">
        <Title order={5}>Costs, last 30 days</Title>
        <SegmentedControl size="xs" value={meter} onChange={(v) => setMeter(v as Meter)} data={METERS} />
      </Group>
      <ProblemAlert error={days.error ?? workflows.error ?? models.error} />
      {totals && (
        <Group gap="xl" mb="sm">
          <Total label="LLM spend" value={formatMeter('llm_usd')(totals.llm_usd)} />
          <Total label="LLM calls" value={`${totals.llm_calls}${totals.unpriced_calls ? ` (${totals.unpriced_calls} unpriced)` : ''}`} />
          <Total label="Tokens" value={formatMeter('tokens')(totals.tokens_input + totals.tokens_output)} />
          <Total label="Code CPU" value={formatMeter('code_cpu_seconds')(totals.code_cpu_seconds)} />
          <Total label="OCR pages" value={String(totals.ocr_pages)} />
        </Group>
      )}
      <Stack gap="md">
        {days.data && (
          <div>
            <Text size="sm" fw={600}>By day</Text>
            <BarChart title="Cost by day" testId="chart-day" orientation="columns" format={format} bars={toBars(fillDays(days.data.items, days.data.since, days.data.until))} />
          </div>
        )}
        <SimpleGrid cols={{ base: 1, md: 2 }}>
          <div>
            <Text size="sm" fw={600}>Top workflows</Text>
            {workflows.data && ranked(workflows.data.items).length ? (
              <BarChart title="Cost by workflow" testId="chart-workflow" format={format} bars={ranked(workflows.data.items)} color="var(--mantine-color-teal-6)" />
            ) : (
              <Text size="sm" c="dimmed">Nothing spent by a workflow in this period.</Text>
            )}
          </div>
          <div>
            <Text size="sm" fw={600}>By model</Text>
            {models.data && ranked(models.data.items).length ? (
              <BarChart title="Cost by model" testId="chart-model" format={format} bars={ranked(models.data.items)} color="var(--mantine-color-grape-6)" />
            ) : (
              <Text size="sm" c="dimmed">{meter === 'llm_usd' || meter === 'tokens' ? 'No LLM calls in this period.' : 'Models only spend tokens and dollars.'}</Text>
            )}
          </div>
        </SimpleGrid>
      </Stack>
    </Card>
  );
}
