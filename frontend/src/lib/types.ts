// The backend's wire contracts (ARCHITECTURE §5/§5b). Prices and volumes are JSON numbers.

export interface SourcePrice {
  price: number;
  quote: string;
  updated_at: string;
  /** false when this exchange has not priced the coin recently */
  fresh?: boolean;
}

export interface Coin {
  coin_id: string;
  symbol: string;
  name: string;
  /** null until a source has priced the coin */
  price: number | null;
  change_24h_pct: number | null;
  /** in base units (coins traded) */
  volume_24h: number | null;
  volume_24h_usd?: number | null;
  high_24h: number | null;
  low_24h: number | null;
  updated_at: string | null;
  /** true when no source has priced the coin recently */
  stale?: boolean;
  sources: Record<string, SourcePrice>;
}

export interface CoinsResponse {
  coins: Coin[];
}

export const INTERVALS = ["1m", "5m", "15m", "1h", "4h", "1d"] as const;
export type Interval = (typeof INTERVALS)[number];

export interface Candle {
  time: number; // unix seconds, bucket start
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
}

export interface CandlesResponse {
  coin_id: string;
  interval: Interval;
  source: string;
  quote: string;
  candles: Candle[];
}

export type Series = (number | null)[];

export interface IndicatorsResponse {
  coin_id: string;
  interval: Interval;
  source: string;
  quote: string;
  /** the market's candle shape: `time` the bucket start in unix seconds */
  candles: Candle[];
  /** by metric name with its parameters: `sma_20`, `rsi_14`, `macd_12_26_9`, `bb_20_2` */
  series: Record<string, Series | Record<string, Series>>;
}

export interface ExchangeStatus {
  name: string;
  connected: boolean;
}

export interface Meta {
  demo: boolean;
  version: string;
  services: string[];
  streams: string[];
  exchanges: ExchangeStatus[];
}

export interface User {
  id: number | string;
  username: string;
  email: string;
  role: string;
}

export interface TokenPair {
  access_token: string;
  refresh_token: string;
  token_type: "bearer";
  expires_in: number;
}

export interface PriceUpdate {
  type: "price_update";
  coin_id: string;
  price: number;
  timestamp: string;
  change_24h?: number | null;
  source?: string;
}

export interface ErrorBody {
  error: {
    code: string;
    message: string;
    request_id?: string;
    details?: { loc: (string | number)[]; msg: string; type: string }[];
  };
}
