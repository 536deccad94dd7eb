"""The price table: shipped defaults, the operator's file over them, families by pattern."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from synthral.errors import ConfigurationError
from synthral.services.llm import PriceTable


def test_defaults_price_known_models_and_families(tmp_path: Path) -> None:
    prices = PriceTable(tmp_path)

    assert prices.cost("gpt-4o-mini", 1_000_000, 1_000_000) == pytest.approx(0.75)
    assert prices.price("claude-3-5-sonnet-20241022") == prices.price("claude-3-5-sonnet-latest")
    assert prices.cost("some-unknown-model", 10, 10) is None


def test_the_operators_file_wins_and_is_read_again_when_it_changes(tmp_path: Path) -> None:
    prices = PriceTable(tmp_path)
    own = tmp_path / "llm-prices.toml"
    own.write_text('[models."gpt-4o-mini"]\ninput_per_million = 1.0\noutput_per_million = 2.0\n')
    assert prices.cost("gpt-4o-mini", 1_000_000, 0) == pytest.approx(1.0)

    own.write_text('[models."my-*"]\ninput_per_million = 5.0\noutput_per_million = 5.0\n')
    stamp = own.stat().st_mtime + 5
    os.utime(own, (stamp, stamp))
    assert prices.cost("my-model", 1_000_000, 0) == pytest.approx(5.0)
    assert prices.cost("gpt-4o-mini", 1_000_000, 0) == pytest.approx(0.15)  # back to the default


def test_a_broken_price_file_names_the_fix(tmp_path: Path) -> None:
    (tmp_path / "llm-prices.toml").write_text('[models."x"]\ninput_per_million = "cheap"\n')

    with pytest.raises(ConfigurationError, match="needs numbers input_per_million and output_per_million"):
        PriceTable(tmp_path).price("x")
