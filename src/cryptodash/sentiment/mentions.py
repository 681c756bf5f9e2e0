"""Which coins a piece of text mentions: names, tickers, cashtags and common aliases.

Pure: no I/O. The rules keep ordinary English from becoming coins:

- A ticker counts in capitals only ("BTC"), or in any case when it is no word (`btc`, `eth`).
- A cashtag (`$SOL`, `$link`) always counts.
- Tickers and names that are also English words, acronyms or other things (LINK, DOT, SOL,
  ADA, NEAR, UNI, TON, ETC, APT, SUI, DOGE, AAVE, Avalanche, Stellar) count only in crypto
  context: a cashtag, a trading pair (`SOL/USDT`), a quantity or a trade before them
  (`50,000 SOL`, `sold all my SOL`), or a market word right after them (`ADA price`,
  `DOT holders`, `Avalanche network`).
- The longest match wins, so "Ethereum Classic" is not Ethereum and "Bitcoin Cash" not Bitcoin;
  look-alike phrases ("ETH Zurich", "Solana Beach", "Bitcoin SV", "ripple effect") claim their
  span for no coin at all.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from cryptodash.market.coins import COINS, Coin

# Names and aliases matched case-insensitively on word boundaries.
_WORD_ALIASES: dict[str, tuple[str, ...]] = {
    "bitcoin": ("bitcoin", "bitcoins"),
    "ethereum": ("ethereum",),
    "ripple": ("xrp", "xrp ledger"),
    "binancecoin": ("bnb", "binance coin", "bnb chain"),
    "solana": ("solana",),
    "dogecoin": ("dogecoin", "dogecoins"),
    "cardano": ("cardano",),
    "litecoin": ("litecoin",),
    "polkadot": ("polkadot",),
    "uniswap": ("uniswap",),
    "shiba-inu": ("shiba inu",),
    "the-open-network": ("toncoin",),
    "hedera-hashgraph": ("hedera", "hedera hashgraph", "hashgraph"),
    "bitcoin-cash": ("bitcoin cash",),
    "ethereum-classic": ("ethereum classic",),
    "near": ("near protocol",),
    "internet-computer": ("dfinity",),
}
# Aliases matched with their exact capitalisation (they are ordinary words in lower case).
_EXACT_ALIASES: dict[str, tuple[str, ...]] = {
    "ethereum": ("Ether",),
    "ripple": ("Ripple",),
    "tron": ("TRON", "Tron"),
    "chainlink": ("Chainlink",),
    "aave": ("Aave",),
    "aptos": ("Aptos",),
    "internet-computer": ("Internet Computer",),
    "the-open-network": ("The Open Network",),
    "tether": ("Tether",),
}
# Names that are common English words: they count in crypto context only.
_CONTEXT_NAMES: dict[str, tuple[str, ...]] = {
    "avalanche-2": ("Avalanche",),
    "stellar": ("Stellar",),
    "sui": ("Sui",),  # also a surname and a dynasty
    "pepe": ("Pepe",),  # also a first name (footballers, singers)
}
# Tickers that are words or acronyms elsewhere: capitals and crypto context, or a cashtag.
AMBIGUOUS_TICKERS = frozenset(
    {"LINK", "DOT", "SOL", "ADA", "NEAR", "UNI", "TON", "ETC", "APT", "SUI", "DOGE", "AAVE"}
)
# Tickers that are no word in any case: matched case-insensitively.
_ANY_CASE_TICKERS = frozenset(
    {"BTC", "ETH", "XRP", "BNB", "TRX", "AVAX", "XLM", "HBAR", "BCH", "LTC", "SHIB"}
)
# Phrases that look like a coin and are not one; each claims its span for no coin.
_LOOKALIKES: tuple[str, ...] = (
    r"ETH\s+Z(?:u|ü|ue)rich",
    r"Solana\s+Beach",
    r"Bitcoin\s+(?:SV|Gold|Satoshi\s+Vision|Diamond)",
    r"ripples?\s+(?:effects?|through|across|out|in)",
    r"Shiba\s+Inu\s+(?:dogs?|pupp(?:y|ies)|breed(?:er)?s?)",
    r"Tron\s*:\s*(?:Legacy|Ares|Uprising)",
    r"Aptos\s+(?:font|typeface)",
    r"Chainlink\s+fences?",
    r"Pepe\s+the\s+Frog",
    r"Sui\s+generis",
    r"(?<=[/_-])USDT",  # the quote side of a trading pair is no mention of Tether
    r"Ether\s+(?:anaesthesia|anesthesia)",
)

_CONTEXT_AFTER = (
    r"prices?|tokens?|coins?|holders?|whales?|staking|stakers?|stake|ETFs?|network|blockchain|"
    r"mainnet|testnet|ecosystem|futures|options|perps?|traders?|investors?|bulls?|bears?|"
    r"treasury|wallets?|rall(?:y|ies|ied)|surges?|surged|soars?|soared|plunges?|plunged|"
    r"tumbles?|tumbled|pumps?|dumps?|crash(?:es|ed)?|breakout|outflows?|inflows?|market\s+cap|"
    r"Lumens|Protocol|Foundation|Development\s+Foundation|Labs|DAO|"
    r"all[- ]time\s+high|ATH|airdrop|validators?|liquidity|meme\s?coins?"
)
_CONTEXT_AFTER_RE = re.compile(rf"\A(?:'s)?[\s,]+(?:{_CONTEXT_AFTER})\b", re.IGNORECASE)
_PAIR_RE = re.compile(r"\A(?:/|-|_)?(?:USDT|USDC|USD|BTC|ETH|EUR)\b")
_QUANTITY_BEFORE_RE = re.compile(
    r"(?:^|[\s(])(?!(?:19|20)\d\d\s+\Z)\$?\d(?:[\d,]*\d)?(?:\.\d+)?"
    r"(?:\s*(?:[kKmMbB]|thousand|million|billion|mln|bln))?\s+\Z"
)


@dataclass(frozen=True, slots=True)
class _Pattern:
    coin_id: str | None  # None: a look-alike that claims its span for no coin
    regex: re.Pattern[str]
    needs_context: bool = False


def _word(text: str, flags: int = 0) -> re.Pattern[str]:
    # \b fails next to "$" and inside "BTC/USDT" is fine; (?<![\w$]) keeps cashtags separate.
    body = r"\s+".join(re.escape(part) for part in text.split())
    return re.compile(rf"(?<![\w$]){body}(?![\w])", flags)


def _patterns(coins: Iterable[Coin]) -> list[_Pattern]:
    patterns: list[_Pattern] = [
        _Pattern(None, re.compile(rf"(?<![\w$]){lookalike}(?!\w)", re.IGNORECASE))
        for lookalike in _LOOKALIKES
    ]
    for coin in coins:
        ticker = coin.symbol.upper()
        patterns.append(_Pattern(coin.id, re.compile(rf"\${re.escape(ticker)}(?!\w)", re.I)))
        if ticker in AMBIGUOUS_TICKERS:
            patterns.append(_Pattern(coin.id, _word(ticker), needs_context=True))
        elif ticker in _ANY_CASE_TICKERS:
            patterns.append(_Pattern(coin.id, _word(ticker, re.IGNORECASE)))
        else:
            patterns.append(_Pattern(coin.id, _word(ticker)))
        words = _WORD_ALIASES.get(coin.id)
        exact = _EXACT_ALIASES.get(coin.id, ())
        context = _CONTEXT_NAMES.get(coin.id, ())
        if words is None and not exact and not context:
            words = (coin.name.lower(),)  # a coin without an entry: its name, any case
        for alias in words or ():
            patterns.append(_Pattern(coin.id, _word(alias, re.IGNORECASE)))
        for alias in exact:
            patterns.append(_Pattern(coin.id, _word(alias)))
        for alias in context:
            patterns.append(_Pattern(coin.id, _word(alias), needs_context=True))
    return patterns


_TRADE_BEFORE_RE = re.compile(
    r"\b(?:bought|buy(?:ing)?|sold|sell(?:ing)?|hodl(?:ing|ed)?|holding|stak(?:e|ed|ing)|"
    r"shorted|shorting|longed|longing|accumulat(?:e|ed|ing)|dumped|dumping|aped\s+into)"
    r"(?:\s+(?:all|some|more|my|our|your|of|back|into))*\s+\Z",
    re.IGNORECASE,
)


def _in_context(text: str, start: int, end: int) -> bool:
    after = text[end : end + 40]
    if _PAIR_RE.match(after) or _CONTEXT_AFTER_RE.match(after):
        return True
    before = text[max(0, start - 40) : start]
    return bool(_QUANTITY_BEFORE_RE.search(before) or _TRADE_BEFORE_RE.search(before))


class MentionDetector:
    """Finds the coins of `coin_ids` (default: every known coin) that a text mentions.

    Matching runs against the whole coin table, so a coin outside the tracked set still claims
    its words ("Ethereum Classic" stays out of ethereum even when ETC is not tracked).
    """

    def __init__(self, coin_ids: Iterable[str] | None = None) -> None:
        self.coin_ids = frozenset(coin_ids) if coin_ids is not None else None
        self._patterns = _patterns(COINS)

    def detect(self, *texts: str) -> list[str]:
        """Coin ids mentioned in any of the texts, in order of first mention."""
        found: dict[str, int] = {}
        offset = 0
        for text in texts:
            for position, coin_id in self._scan(text):
                found.setdefault(coin_id, offset + position)
            offset += len(text) + 1
        return [coin_id for coin_id, _ in sorted(found.items(), key=lambda item: item[1])]

    def _scan(self, text: str) -> list[tuple[int, str]]:
        candidates: list[tuple[int, int, str | None]] = []
        for pattern in self._patterns:
            for match in pattern.regex.finditer(text):
                start, end = match.span()
                if pattern.needs_context and not _in_context(text, start, end):
                    continue
                candidates.append((start, end, pattern.coin_id))
        # Longest first: "Bitcoin Cash" claims its span before "Bitcoin" can.
        candidates.sort(key=lambda c: (-(c[1] - c[0]), c[0]))
        taken: list[tuple[int, int]] = []
        hits: list[tuple[int, str]] = []
        for start, end, coin_id in candidates:
            if any(start < t_end and t_start < end for t_start, t_end in taken):
                continue
            taken.append((start, end))
            if coin_id is not None and (self.coin_ids is None or coin_id in self.coin_ids):
                hits.append((start, coin_id))
        return hits
