/** A small horizontal or vertical bar chart in SVG: no chart library, nothing the page's CSP refuses. */

export interface Bar {
  key: string;
  label: string;
  value: number;
}

interface Props {
  bars: Bar[];
  format: (value: number) => string;
  /** Columns (one per day) or rows (one per workflow or model). */
  orientation?: 'columns' | 'rows';
  title: string;
  color?: string;
  testId?: string;
}

const WIDTH = 560;

export function BarChart({ bars, format, orientation = 'rows', title, color = 'var(--mantine-color-blue-6)', testId }: Props) {
  const top = Math.max(0, ...bars.map((b) => b.value));
  if (bars.length === 0) return null;
  if (orientation === 'columns') {
    const wide = 1100;
    const height = 150;
    const margin = 22;
    const gap = 6;
    const width = Math.max(6, Math.min(28, (wide - 40) / bars.length - gap));
    return (
      <svg role="img" aria-label={title} viewBox={`0 0 ${wide} ${height + margin + 24}`} width="100%" data-testid={testId}>
        <text x={4} y={12} fontSize={11} fill="currentColor">{`max ${format(top)}`}</text>
        <line x1={16} x2={wide - 4} y1={height + margin} y2={height + margin} stroke="var(--mantine-color-gray-4)" />
        {bars.map((bar, index) => {
          const h = top > 0 ? (bar.value / top) * height : 0;
          const x = 20 + index * (width + gap);
          return (
            <g key={bar.key} data-testid="bar">
              <title>{`${bar.label}: ${format(bar.value)}`}</title>
              <rect x={x} y={height + margin - h} width={width} height={Math.max(h, bar.value > 0 ? 1 : 0)} rx={2} fill={color} />
              {(bars.length <= 16 || index % Math.ceil(bars.length / 16) === 0) && (
                <text x={x + width / 2} y={height + margin + 16} fontSize={11} textAnchor="middle" fill="currentColor">
                  {bar.label.slice(5)}
                </text>
              )}
            </g>
          );
        })}
      </svg>
    );
  }
  const row = 22;
  const labelWidth = 170;
  return (
    <svg role="img" aria-label={title} viewBox={`0 0 ${WIDTH} ${bars.length * row + 4}`} width="100%" data-testid={testId}>
      {bars.map((bar, index) => {
        const w = top > 0 ? (bar.value / top) * (WIDTH - labelWidth - 90) : 0;
        const y = index * row + 2;
        return (
          <g key={bar.key} data-testid="bar">
            <title>{`${bar.label}: ${format(bar.value)}`}</title>
            <text x={labelWidth - 6} y={y + 14} fontSize={11} textAnchor="end" fill="currentColor">
              {bar.label.length > 26 ? `${bar.label.slice(0, 25)}…` : bar.label}
            </text>
            <rect x={labelWidth} y={y + 3} width={Math.max(w, bar.value > 0 ? 1 : 0)} height={row - 8} rx={2} fill={color} />
            <text x={labelWidth + w + 6} y={y + 14} fontSize={11} fill="currentColor">
              {format(bar.value)}
            </text>
          </g>
        );
      })}
    </svg>
  );
}
