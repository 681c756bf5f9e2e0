"""Request and response bodies of the portfolio domain.

Quantities and money are decimal *strings* both ways (ARCHITECTURE §5b): in, a plain decimal
("0.5", "42000.10"; no exponent, no spaces, at most 20 digits before the point and 18 after,
which is what NUMERIC(38,18) holds exactly); out, the exact value without trailing zeros.
A JSON number where a decimal string belongs is refused: it may already have been rounded.
Market data inside portfolio answers (watchlist prices, risk statistics) are JSON numbers.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
    field_validator,
)

from cryptodash.portfolio.accounting import METHODS, decimal_text

Method = Literal["fifo", "average"]
assert set(METHODS) == set(Method.__args__)  # type: ignore[attr-defined]
Side = Literal["buy", "sell"]
Interval = Literal["1h", "1d"]
Range = Literal["7d", "30d", "90d", "1y", "all"]

MAX_ID = 2**63 - 1
INTEGER_DIGITS = 20
PLACES = 18
FUTURE_TOLERANCE = timedelta(seconds=5)
"""A trade a few seconds "in the future" is a client clock running ahead, not a future date."""
EARLIEST = datetime(2009, 1, 3, tzinfo=UTC)
"""Bitcoin's genesis block: no crypto trade is older."""

_PLAIN_DECIMAL = re.compile(r"-?(\d+(\.\d*)?|\.\d+)")


def _decimal_string(value: object) -> Decimal:
    if not isinstance(value, str):
        raise ValueError('must be a decimal string, e.g. "0.5" (a JSON number may be rounded)')
    if not _PLAIN_DECIMAL.fullmatch(value):
        raise ValueError('must be a plain decimal like "1234.5678" (no exponent or spaces)')
    # Counted on the text: Decimal's abs() and normalize() round to the context's precision.
    whole, _, fraction = value.lstrip("-").partition(".")
    if len(fraction.rstrip("0")) > PLACES:
        raise ValueError(f"at most {PLACES} decimal places")
    if len(whole.lstrip("0")) > INTEGER_DIGITS:
        raise ValueError(f"at most {INTEGER_DIGITS} digits before the decimal point")
    return Decimal(value)


def _positive(value: Decimal) -> Decimal:
    if value <= 0:
        raise ValueError("must be greater than 0")
    return value


def _not_negative(value: Decimal) -> Decimal:
    if value < 0:
        raise ValueError("must not be negative")
    return value


_DECIMAL_SCHEMA = WithJsonSchema(
    {"type": "string", "pattern": r"^-?(\d+(\.\d*)?|\.\d+)$", "examples": ["0.5"]}
)
PositiveDecimal = Annotated[
    Decimal, BeforeValidator(_decimal_string), AfterValidator(_positive), _DECIMAL_SCHEMA
]
NonNegativeDecimal = Annotated[
    Decimal, BeforeValidator(_decimal_string), AfterValidator(_not_negative), _DECIMAL_SCHEMA
]
Money = Annotated[
    Decimal,
    PlainSerializer(decimal_text, return_type=str),
    WithJsonSchema({"type": "string", "examples": ["1234.5678"]}),
]
"""A decimal on the way out: exact, as a string."""


def _printable(value: str) -> str:
    value.encode()  # a lone surrogate raises UnicodeEncodeError, a ValueError: 422
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        raise ValueError("must not contain control characters")
    if not value.strip():
        raise ValueError("must not be blank")
    return value.strip()


def _trade_time(value: datetime) -> datetime:
    value = value.astimezone(UTC)
    if value > datetime.now(UTC) + FUTURE_TOLERANCE:
        raise ValueError("must not be in the future")
    if value < EARLIEST:
        raise ValueError("must not be before 2009-01-03 (the first bitcoin block)")
    return value


Name = Annotated[str, StringConstraints(min_length=1, max_length=100), AfterValidator(_printable)]
CoinId = Annotated[str, StringConstraints(min_length=1, max_length=50, pattern=r"^[a-z0-9-]+$")]
TradeTime = Annotated[AwareDatetime, AfterValidator(_trade_time)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Patch(_Body):
    """A partial update: absent fields stay, `null` is refused (no field may be emptied)."""

    @field_validator("*", mode="before")
    @classmethod
    def _no_nulls(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may be left out but not null")
        return value


# --------------------------------------------------------------------------- portfolios


class PortfolioCreate(_Body):
    name: Name
    base_currency: Literal["USD"] = "USD"
    cost_basis_method: Method = "fifo"


class PortfolioUpdate(_Patch):
    name: Name | None = None
    base_currency: Literal["USD"] | None = None
    cost_basis_method: Method | None = None


class PortfolioRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    base_currency: str
    cost_basis_method: Method
    created_at: datetime
    updated_at: datetime


# --------------------------------------------------------------------------- transactions


class TransactionCreate(_Body):
    coin_id: CoinId
    side: Side
    quantity: PositiveDecimal
    price: PositiveDecimal = Field(description="Per coin, in the portfolio's currency")
    fee: NonNegativeDecimal = Decimal(0)
    executed_at: TradeTime = Field(default_factory=lambda: datetime.now(UTC))


class TransactionUpdate(_Patch):
    coin_id: CoinId | None = None
    side: Side | None = None
    quantity: PositiveDecimal | None = None
    price: PositiveDecimal | None = None
    fee: NonNegativeDecimal | None = None
    executed_at: TradeTime | None = None


class TransactionRead(BaseModel):
    id: int
    portfolio_id: int
    coin_id: str
    side: Side
    quantity: Money
    price: Money
    fee: Money
    executed_at: datetime
    created_at: datetime
    realized_gain: Money | None = Field(
        default=None, description="Sells: proceeds (net of the fee) minus the cost removed"
    )


class TransactionPage(BaseModel):
    items: list[TransactionRead]
    total: int
    limit: int
    offset: int


class ImportResult(BaseModel):
    imported: int


# --------------------------------------------------------------------------- holdings


class AssetRead(BaseModel):
    """A row of `portfolio_assets`: what the transactions imply is held now."""

    model_config = ConfigDict(from_attributes=True)

    coin_id: str
    quantity: Money
    purchase_price: Money = Field(description="Average cost per coin held, fees included")
    purchase_date: datetime = Field(description="First buy since the holding was last empty")


class AssetPerformance(BaseModel):
    coin_id: str
    quantity: Money
    price: Money
    value: Money
    cost_basis: Money
    average_price: Money | None
    unrealized_gain: Money
    realized_gain: Money
    allocation_pct: Money
    change_24h: Money | None
    stale: bool = Field(description="No fresh live price: the newest known one stands in")


class PerformanceRead(BaseModel):
    portfolio_id: int
    cost_basis_method: Method
    total_value: Money
    cost_basis: Money
    gain_loss: Money
    realized_gain: Money
    unrealized_gain: Money
    roi_percentage: Money | None
    change_24h: Money
    total_invested: Money
    net_proceeds: Money
    assets: list[AssetPerformance]
    as_of: datetime


class HistoryPoint(BaseModel):
    timestamp: datetime
    total_value: Money
    cost_basis: Money


class HistoryRead(BaseModel):
    portfolio_id: int
    interval: Interval
    range: Range
    points: list[HistoryPoint]


class Correlation(BaseModel):
    coins: list[str]
    matrix: list[list[float | None]]


class AssetRisk(BaseModel):
    coin_id: str
    weight: float
    volatility: float | None


class RiskRead(BaseModel):
    portfolio_id: int
    interval: Interval
    window: int
    as_of: datetime | None
    volatility: float | None
    max_drawdown: float | None
    beta_to_bitcoin: float | None
    correlation: Correlation
    assets: list[AssetRisk]


# --------------------------------------------------------------------------- watchlist


class WatchlistAdd(_Body):
    coin_id: CoinId


class WatchlistItem(BaseModel):
    coin_id: str
    added_at: datetime
    symbol: str | None = None
    name: str | None = None
    price: float | None = None
    change_24h_pct: float | None = None
    high_24h: float | None = None
    low_24h: float | None = None
    volume_24h_usd: float | None = None
    updated_at: str | None = None
    stale: bool = True
