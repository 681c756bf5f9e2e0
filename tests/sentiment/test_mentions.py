"""Mention detection on a table of tricky sentences: no article is filed under a coin that it
does not mention, and real mentions (names, tickers, cashtags, aliases) are found."""

from __future__ import annotations

import pytest

from cryptodash.market.coins import DEFAULT_COINS
from cryptodash.sentiment.mentions import MentionDetector

DETECTOR = MentionDetector()

CASES: list[tuple[str, list[str]]] = [
    # Plain names, tickers, cashtags, several coins.
    ("Bitcoin hits a record as ETF inflows continue", ["bitcoin"]),
    ("BTC and ETH rally while XRP lags", ["bitcoin", "ethereum", "ripple"]),
    ("$SOL and $link lead altcoin gains", ["solana", "chainlink"]),
    ("btc dominance keeps rising, eth/btc ratio falls", ["bitcoin", "ethereum"]),
    ("Dogecoin jumps after Musk tweet", ["dogecoin"]),
    ("Cardano (ADA) founder responds to critics", ["cardano"]),
    ("Chainlink (LINK) partners with Swift", ["chainlink"]),
    ("Polkadot's DOT price slides", ["polkadot"]),
    ("Uniswap Labs wins case; UNI token jumps", ["uniswap"]),
    ("Toncoin rises as Telegram adds wallet", ["the-open-network"]),
    ("TON price surges 12% on Telegram news", ["the-open-network"]),
    ("Traders moved 50,000 SOL to exchanges", ["solana"]),
    ("Whale buys 1.2M LINK in one hour", ["chainlink"]),
    ("SOL/USDT breaks resistance", ["solana"]),
    ("Sold all my SOL, this is awful", ["solana"]),
    ("Bought more LINK on the dip", ["chainlink"]),
    ("Staking ADA since 2021", ["cardano"]),
    ("NEAR Protocol unveils sharding upgrade", ["near"]),
    ("Avalanche network activity hits record", ["avalanche-2"]),
    ("Stellar Development Foundation backs new payments rail", ["stellar"]),
    ("Ripple wins partial victory against the SEC", ["ripple"]),
    ("Ether slips below $3,000", ["ethereum"]),
    ("Shiba Inu burn rate spikes", ["shiba-inu"]),
    ("Hedera council adds new member", ["hedera-hashgraph"]),
    ("Bitcoin's halving is weeks away", ["bitcoin"]),
    ("ADA price prediction: can Cardano hit $1?", ["cardano"]),
    ("Internet Computer (ICP) and Aptos sign deal", ["internet-computer", "aptos"]),
    # Ordinary English and look-alikes that are no coin.
    ("Click the link below to read the full report", []),
    ("Follow the LINK in our bio", []),
    ("The dot-com bubble burst in 2000", []),
    ("DOT issues new rules for trucking companies", []),
    ("The sol of Peru lost ground against the dollar", []),
    ("Ada Lovelace is celebrated as the first programmer", []),
    ("The ADA requires accessible entrances", []),
    ("Americans with Disabilities Act (ADA) turns 35", []),
    ("Home prices near record highs in Phoenix", []),
    ("NEAR THE END OF THE SESSION STOCKS FELL", []),
    ("Uni students protest tuition hikes", []),
    ("He lifted a ton of weight", []),
    ("Sales grew 10% year on year, etc.", []),
    ("An apt description of the market", []),
    ("APT group targets banks with new malware", []),
    ("DOGE cuts thousands of federal jobs", []),
    ("Elon Musk's DOGE gains access to Treasury systems", []),
    ("The 2025 DOGE report lists savings", []),
    ("An avalanche of sell orders hit stocks", []),
    ("Avalanche warning issued for the Alps", []),
    ("A stellar quarter for Apple", []),
    ("Stellar earnings lift the Nasdaq", []),
    ("Researchers at ETH Zurich publish quantum result", []),
    ("Solana Beach council approves budget", []),
    ("The ripple effect of rate cuts", []),
    ("The Ripple Effect of Rate Cuts on Housing", []),
    ("Tron: Legacy returns to theaters", []),
    ("Ether anesthesia was first used in 1846", []),
    ("A chainlink fence surrounds the lot", []),
    ("Shiba Inu dogs are loyal companions", []),
    ("Pepe the Frog creator speaks out", []),
    ("SUI beat GER 2-1 in the quarter-final", []),
    ("AAVE is a dialect studied by linguists", []),
    ("The internet computer lab opens Monday", []),
    ("Sui generis rules apply", []),
    ("The Sui dynasty unified China", []),
    ("Pepe scores twice for Porto", []),
    ("Rate Cut Could Ripple Through Markets", []),
    ("Users can stake in the pool", []),
    ("She sold the dot-com shares", []),
    ("Buy a ton of groceries", []),
    ("Holding the LINK between two ideas", []),
    # Longest match wins.
    ("Ethereum Classic hard fork scheduled", ["ethereum-classic"]),
    ("Bitcoin Cash rallies as Bitcoin stalls", ["bitcoin-cash", "bitcoin"]),
    ("Bitcoin SV trial continues", []),
    ("Bitcoin Gold was hit by a 51% attack", []),
    # Cashtags always count, context makes ambiguous tickers count.
    ("$DOGE up 8%", ["dogecoin"]),
    ("DOGE price jumps after ETF filing", ["dogecoin"]),
    ("$ADA, $DOT and $UNI see inflows", ["cardano", "polkadot", "uniswap"]),
    ("AAVE token holders approve fee switch", ["aave"]),
    ("Aave v4 launches", ["aave"]),
    ("PEPE price jumps as memecoins rally", ["pepe"]),
    ("Pepe memecoin whales accumulate", ["pepe"]),
    ("Sui network processes record transactions", ["sui"]),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_mentions(text: str, expected: list[str]) -> None:
    assert DETECTOR.detect(text) == expected


def test_only_tracked_coins_are_reported() -> None:
    tracked = MentionDetector(["bitcoin"])
    assert tracked.detect("Bitcoin and Ethereum rally") == ["bitcoin"]
    # An untracked coin still claims its words: ETC news is not Ethereum news.
    assert MentionDetector(DEFAULT_COINS).detect("Ethereum Classic rallies") == []


def test_several_texts_keep_the_order_of_first_mention() -> None:
    assert DETECTOR.detect("Solana outage", "Bitcoin and Solana recover") == [
        "solana",
        "bitcoin",
    ]
