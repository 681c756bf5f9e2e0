"""Sentiment: news and social ingestion, per-coin classification and trends."""
