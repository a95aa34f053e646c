"""Scenario loading: bundled seed scenarios load; malformed files fail naming the field."""

import pytest

from moekit.errors import SpecError
from moekit.scenario import bundled_names, load_scenario


def test_seed000_loads_with_product_convention_and_its_claims():
    s = load_scenario("seed000_30b_ep64_tp8_pp2_dp2")
    assert s.source.endswith("000_b76fa9b3bf6e9f2b.txt")
    # product convention: attention dp = DP x EP = 2 x 64, GPUs = 64 x 8 x 2 x 2
    assert (s.strategy.dp, s.strategy.tp, s.strategy.pp, s.strategy.ep) == (128, 8, 2, 64)
    assert s.strategy.gpus == 2048 and s.strategy.notation == "EP64-TP8-PP2-DP2"
    assert s.claim("memory_per_gpu").value == 29.3 and s.claim("memory_per_gpu").unit == "MB"
    assert s.claim("memory_per_gpu").si_value == pytest.approx(29.3e6)


def test_every_bundled_scenario_loads():
    names = bundled_names()
    assert "seed000_30b_ep64_tp8_pp2_dp2" in names
    for name in names:
        assert load_scenario(name).claims


def test_unknown_scenario_names_the_bundled_ones():
    with pytest.raises(SpecError, match="seed000_30b_ep64_tp8_pp2_dp2"):
        load_scenario("no-such-scenario")
