"""Portfolio: holdings, transactions, valuation, history and the watchlist."""
