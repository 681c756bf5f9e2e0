// The correlation matrix as an accessible table: a header per coin, each cell coloured on a
// diverging scale and carrying its value as text (and its meaning for screen readers).
import { correlationColour, correlationStrength, formatCorrelation, LEGEND_STOPS } from "@/lib/heatmap";
import type { CorrelationResponse } from "@/lib/insightTypes";
import type { Theme } from "@/lib/theme";

export function CorrelationHeatmap({
  data,
  symbols,
  theme,
}: {
  data: CorrelationResponse;
  symbols: Readonly<Record<string, string>>;
  theme: Theme;
}) {
  const label = (coin: string) => (symbols[coin] ?? coin).toUpperCase();
  return (
    <div>
      <div
        className="relative max-w-full overflow-x-auto"
        tabIndex={0}
        role="region"
        aria-label="Correlation heatmap (scrolls sideways on narrow screens)"
      >
        <table className="border-separate border-spacing-0.5 text-xs tabular" data-testid="correlation-heatmap">
          <caption className="sr-only">
            Pearson correlation of log returns, {data.interval} candles, window {data.window}
          </caption>
          <thead>
            <tr>
              <td />
              {data.coins.map((coin) => (
                <th key={coin} scope="col" className="px-1 py-1 text-center font-medium text-muted">
                  {label(coin)}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {data.coins.map((row, i) => (
              <tr key={row}>
                <th scope="row" className="pr-2 text-right font-medium text-muted">
                  {label(row)}
                </th>
                {data.coins.map((column, j) => {
                  const value = data.matrix[i]?.[j] ?? null;
                  const colour = correlationColour(value, theme);
                  const words = `${label(row)} and ${label(column)}: ${formatCorrelation(value)}, ${correlationStrength(value)}`;
                  return (
                    <td
                      key={column}
                      title={words}
                      data-testid="heatmap-cell"
                      className="h-9 min-w-11 rounded px-1 text-center"
                      style={{ background: colour.background, color: colour.color }}
                    >
                      <span aria-hidden>{formatCorrelation(value)}</span>
                      <span className="sr-only">{words}</span>
                    </td>
                  );
                })}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <div className="mt-3 flex items-center gap-2 text-xs text-muted" aria-hidden>
        <span>−1</span>
        <span
          className="h-2 w-40 rounded"
          style={{
            background: `linear-gradient(to right, ${LEGEND_STOPS.map((stop) => correlationColour(stop, theme).background).join(", ")})`,
          }}
        />
        <span>+1</span>
        <span className="ml-2">opposite ← → together</span>
      </div>
    </div>
  );
}
