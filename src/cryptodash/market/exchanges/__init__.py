"""Price sources, one module per exchange. Each module has ``async def run(platform)``: a
worker that feeds normalized ticks to `cryptodash.market.ingest.TickPublisher` and REST
history to `cryptodash.market.service.ingest_candles`. The market domain starts one per entry
of `CRYPTODASH_EXCHANGES` (the simulator in demo mode)."""
