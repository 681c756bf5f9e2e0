"""Market data: exchange feeds, normalized prices, candles and the market REST API."""
