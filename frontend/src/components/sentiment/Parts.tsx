// The sentiment page's pieces: score badge, the per-coin score table, the article feed and the
// model in use.
import { EmptyState } from "@/components/states";
import { formatAgo } from "@/lib/format";
import type { Article, SentimentModel, SentimentOverview } from "@/lib/insightTypes";
import { formatScore, safeExternalUrl, scoreLabel, scoreTone, type ScoreTone } from "@/lib/sentiment";

const TONE_CLASS: Record<ScoreTone, string> = {
  positive: "border-up/40 bg-up/10 text-up",
  negative: "border-down/40 bg-down/10 text-down",
  neutral: "border-line bg-panel-2 text-fg",
  none: "border-line text-muted",
};

export function ToneBadge({ tone, children }: { tone: ScoreTone; children: React.ReactNode }) {
  return <span className={`inline-block rounded border px-1.5 py-0.5 text-[11px] font-medium ${TONE_CLASS[tone]}`}>{children}</span>;
}

function Split({ positive, neutral, negative }: { positive: number | null; neutral: number | null; negative: number | null }) {
  if (positive === null || neutral === null || negative === null) return <span className="text-muted">—</span>;
  return (
    <span className="flex h-2 w-24 overflow-hidden rounded bg-panel-2" title={`${positive}% positive, ${neutral}% neutral, ${negative}% negative`}>
      <span className="bg-up" style={{ width: `${positive}%` }} />
      <span className="bg-muted/50" style={{ width: `${neutral}%` }} />
      <span className="bg-down" style={{ width: `${negative}%` }} />
    </span>
  );
}

export function ScoreTable({
  data,
  selected,
  onSelect,
}: {
  data: SentimentOverview;
  selected: string;
  onSelect: (coinId: string) => void;
}) {
  const rows = [...data.coins].sort((a, b) => (b.article_count - a.article_count) || a.name.localeCompare(b.name));
  if (rows.length === 0) return <EmptyState>No coins are tracked yet.</EmptyState>;
  return (
    <div className="relative max-w-full overflow-x-auto">
      <table className="w-full text-sm" data-testid="sentiment-scores">
        <caption className="sr-only">
          Sentiment by coin over {data.window}, {data.kind === "all" ? "news and social posts" : data.kind}
        </caption>
        <thead>
          <tr className="text-left text-xs text-muted">
            <th scope="col" className="py-1 font-medium">Coin</th>
            <th scope="col" className="py-1 font-medium">Score</th>
            <th scope="col" className="hidden py-1 font-medium sm:table-cell">Positive · neutral · negative</th>
            <th scope="col" className="py-1 text-right font-medium">Items</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => {
            const tone = scoreTone(row.score);
            return (
              <tr key={row.coin_id} className={`border-t border-line ${row.coin_id === selected ? "bg-panel-2" : ""}`} data-testid={`score-${row.coin_id}`}>
                <th scope="row" className="py-1.5 text-left font-normal">
                  <button
                    type="button"
                    onClick={() => onSelect(row.coin_id)}
                    aria-pressed={row.coin_id === selected}
                    className="rounded text-left hover:underline focus-visible:outline-2 focus-visible:outline-accent"
                  >
                    {row.name} <span className="text-xs uppercase text-muted">{row.symbol}</span>
                  </button>
                </th>
                <td className="py-1.5">
                  <span className="inline-flex items-center gap-2">
                    <span className="w-12 font-mono tabular">{formatScore(row.score)}</span>
                    <ToneBadge tone={tone}>{scoreLabel(row.score)}</ToneBadge>
                  </span>
                </td>
                <td className="hidden py-1.5 sm:table-cell">
                  <Split positive={row.positive_pct} neutral={row.neutral_pct} negative={row.negative_pct} />
                </td>
                <td className="py-1.5 text-right tabular">{row.article_count}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

export function ArticleItem({ article, names }: { article: Article; names: Readonly<Record<string, string>> }) {
  const href = safeExternalUrl(article.url);
  const tone: ScoreTone = article.label;
  return (
    <li className="border-t border-line py-3 first:border-t-0" data-testid="article">
      <div className="flex flex-wrap items-center gap-2 text-xs text-muted">
        <ToneBadge tone={tone}>
          <span data-testid="article-label">{article.label}</span> {formatScore(article.score)}
        </ToneBadge>
        <span className="capitalize">{article.kind === "social" ? "Social" : "News"}</span>
        <span aria-hidden>·</span>
        <span>{article.source}</span>
        <span aria-hidden>·</span>
        <time dateTime={article.published_at} title={new Date(article.published_at).toLocaleString()}>
          {formatAgo(article.published_at)}
        </time>
        {article.demo && <span className="rounded border border-warn/40 px-1 text-warn">simulated</span>}
      </div>
      <p className="mt-1 font-medium">
        {href ? (
          <a href={href} target="_blank" rel="noopener noreferrer" className="hover:underline focus-visible:outline-2 focus-visible:outline-accent">
            {article.title}
            <span className="sr-only"> (opens in a new tab)</span>
          </a>
        ) : (
          article.title
        )}
      </p>
      {article.coins.length > 0 && (
        <p className="mt-1 text-xs text-muted">
          About {article.coins.map((coin) => names[coin] ?? coin).join(", ")} · scored by {article.model}
        </p>
      )}
    </li>
  );
}

export function ModelInfo({ model }: { model: SentimentModel }) {
  const active = model.active ?? model.configured;
  const kind = model.kind === "transformer" ? "transformer" : model.kind === "lexicon" ? "lexicon (VADER)" : null;
  return (
    <div className="text-sm" data-testid="sentiment-model">
      <p>
        <span className="text-muted">Model in use:</span> <strong className="font-medium">{active}</strong>
        {kind && <span className="text-muted"> · {kind}</span>}
        {model.state && !["ready", "loaded"].includes(model.state) && <span className="text-muted"> · {model.state}</span>}
      </p>
      {model.fallback && (
        <p className="mt-1 text-xs text-warn">
          Fallback in use{model.configured !== active ? ` instead of ${model.configured}` : ""}
          {model.reason ? `: ${model.reason}` : ""}.
        </p>
      )}
      {model.sources.length > 0 && (
        <ul className="mt-2 flex flex-wrap gap-2 text-xs" aria-label="News sources">
          {model.sources.map((source, i) => {
            const name = typeof source.name === "string" ? source.name : `source ${i + 1}`;
            const state = typeof source.state === "string" ? source.state : "unknown";
            return (
              <li key={name} className="inline-flex items-center gap-1 rounded-full border border-line px-2 py-0.5 text-muted" title={typeof source.last_error === "string" ? source.last_error : undefined}>
                <span aria-hidden className={`h-1.5 w-1.5 rounded-full ${state === "ok" ? "bg-up" : state === "backoff" ? "bg-warn" : "bg-down"}`} />
                {name}: {state}
              </li>
            );
          })}
        </ul>
      )}
    </div>
  );
}
