import { MantineProvider } from '@mantine/core';
import { cleanup, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { BarChart } from './BarChart';
import { type CostRow, fillDays, formatMeter, meterOf } from './Costs';

afterEach(cleanup);

const row = (key: string, llm_usd: number): CostRow => ({
  key, label: key, llm_usd, llm_calls: 1, unpriced_calls: 0, tokens_input: 100, tokens_output: 20, code_cpu_seconds: 0.5, ocr_pages: 2,
});

describe('cost charts', () => {
  it('fills every day of the range so quiet days show as gaps', () => {
    const days = fillDays([row('2026-12-02', 1.5)], '2026-12-01T10:00:00+00:00', '2026-12-04T09:00:00+00:00');
    expect(days.map((d) => [d.key, d.llm_usd])).toEqual([['2026-12-01', 0], ['2026-12-02', 1.5], ['2026-12-03', 0], ['2026-12-04', 0]]);
  });

  it('reads and formats each meter', () => {
    expect(meterOf(row('a', 2), 'tokens')).toBe(120);
    expect(formatMeter('llm_usd')(0.01234)).toBe('$0.0123');
    expect(formatMeter('llm_usd')(12.5)).toBe('$12.50');
    expect(formatMeter('tokens')(985600)).toBe('985.6k');
    expect(formatMeter('code_cpu_seconds')(34.2)).toBe('34 s');
  });

  it('draws one bar per row, the largest full width, each with its value', () => {
    render(
      <MantineProvider>
        <BarChart title="by model" testId="chart" format={formatMeter('llm_usd')} bars={[{ key: 'a', label: 'gpt-4o', value: 2 }, { key: 'b', label: 'claude', value: 1 }]} />
      </MantineProvider>,
    );
    const bars = screen.getAllByTestId('bar');
    expect(bars).toHaveLength(2);
    const widths = bars.map((b) => Number(b.querySelector('rect')!.getAttribute('width')));
    expect(widths[0]).toBeCloseTo(widths[1] * 2);
    expect(screen.getByTestId('chart').textContent).toContain('$2.00');
  });
});
