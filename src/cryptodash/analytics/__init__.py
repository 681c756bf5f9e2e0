"""Analytics: indicators, volatility and correlation computed from candles."""
