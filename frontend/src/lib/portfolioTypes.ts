// The portfolio API's wire contracts (README "Portfolio"). Money and quantities are decimal
// strings both ways; watchlist prices and risk statistics are JSON numbers.

export type CostBasisMethod = "fifo" | "average";
export type Side = "buy" | "sell";
export type HistoryRange = "7d" | "30d" | "90d" | "1y" | "all";
export type HistoryInterval = "1h" | "1d";

export interface Portfolio {
  id: number;
  name: string;
  base_currency: string;
  cost_basis_method: CostBasisMethod;
  created_at: string;
  updated_at: string;
}

export interface Transaction {
  id: number;
  portfolio_id: number;
  coin_id: string;
  side: Side;
  quantity: string;
  price: string;
  fee: string;
  executed_at: string;
  created_at: string;
  realized_gain: string | null;
}

export interface TransactionPage {
  items: Transaction[];
  total: number;
  limit: number;
  offset: number;
}

/** What the add/edit form sends: every figure a decimal string. */
export interface TransactionInput {
  coin_id: string;
  side: Side;
  quantity: string;
  price: string;
  fee: string;
  executed_at: string;
}

export interface AssetPerformance {
  coin_id: string;
  quantity: string;
  price: string;
  value: string;
  cost_basis: string;
  average_price: string | null;
  unrealized_gain: string;
  realized_gain: string;
  allocation_pct: string;
  change_24h: string | null;
  stale: boolean;
}

export interface Performance {
  portfolio_id: number;
  cost_basis_method: CostBasisMethod;
  total_value: string;
  cost_basis: string;
  gain_loss: string;
  realized_gain: string;
  unrealized_gain: string;
  roi_percentage: string | null;
  change_24h: string;
  total_invested: string;
  net_proceeds: string;
  assets: AssetPerformance[];
  as_of: string;
}

export interface HistoryPoint {
  timestamp: string;
  total_value: string;
  cost_basis: string;
}

export interface History {
  portfolio_id: number;
  interval: HistoryInterval;
  range: HistoryRange;
  points: HistoryPoint[];
}

export interface Risk {
  portfolio_id: number;
  interval: HistoryInterval;
  window: number;
  as_of: string | null;
  volatility: number | null;
  max_drawdown: number | null;
  beta_to_bitcoin: number | null;
  correlation: { coins: string[]; matrix: (number | null)[][] };
  assets: { coin_id: string; weight: number; volatility: number | null }[];
}

export interface WatchlistItem {
  coin_id: string;
  added_at: string;
  symbol: string | null;
  name: string | null;
  price: number | null;
  change_24h_pct: number | null;
  high_24h: number | null;
  low_24h: number | null;
  volume_24h_usd: number | null;
  updated_at: string | null;
  stale: boolean;
}
