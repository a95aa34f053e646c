"""EP link figures of the GPU presets, fitted to measured NCCL collectives (moekit.calibration.links)."""

import pandas as pd
import pytest

import moekit
from moekit.calibration.links import EP_OPS, ep_link_fit, nccl_table

PRESETS = {"h100-sxm": "h100_sxm", "h200": "h200_sxm", "b200": "b200_sxm"}


def _synthetic(beta, alpha, gpus=8):
    rows = [{"system": "toy", "op": op, "gpus": gpus, "message_bytes": m,
             "measured_s": m * (gpus - 1) / gpus / beta + (gpus - 1) * alpha}
            for op in EP_OPS for m in (2**20, 2**23, 2**26)]
    return pd.DataFrame(rows)


def test_the_fit_recovers_the_alpha_beta_that_made_the_times():
    # hand figures: 300 GB/s and 2 us per peer; 8 MiB over 8 GPUs = 7/8 x 8,388,608 B / 3e11 + 7 x 2 us
    table = _synthetic(300e9, 2e-6)
    assert table.measured_s.iloc[1] == pytest.approx(8388608 * 7 / 8 / 300e9 + 14e-6)
    beta, alpha = ep_link_fit(table, "toy")
    assert beta == pytest.approx(300e9, rel=1e-9) and alpha == pytest.approx(2e-6, rel=1e-9)


def test_rows_outside_the_ep_collectives_and_sizes_do_not_count():
    table = pd.concat([_synthetic(300e9, 2e-6),
                       pd.DataFrame([{"system": "toy", "op": "all_reduce", "gpus": 8, "message_bytes": 2**22,
                                      "measured_s": 1.0},
                                     {"system": "toy", "op": "alltoall", "gpus": 8, "message_bytes": 2**30,
                                      "measured_s": 1.0}])])
    assert ep_link_fit(table, "toy")[0] == pytest.approx(300e9, rel=1e-9)


@pytest.mark.parametrize(("preset", "system"), PRESETS.items())
def test_each_presets_ep_link_is_the_fit_to_its_gpus_measured_nccl(preset, system):
    hw = moekit.load_hardware(preset)
    beta, alpha = ep_link_fit(nccl_table(), system)
    assert hw.alltoall_bandwidth == pytest.approx(beta, rel=5e-3)
    assert hw.alltoall_latency == pytest.approx(alpha, rel=5e-3)
    # NCCL gets well under the NVLink datasheet at these messages
    assert 0.4 * hw.intra_node_bandwidth < hw.alltoall_bandwidth < 0.8 * hw.intra_node_bandwidth


def test_an_unknown_system_is_named_with_the_ones_there_are():
    with pytest.raises(ValueError, match="h200_sxm"):
        ep_link_fit(nccl_table(), "gb300")


def test_the_fitted_law_is_the_cost_models_all_to_all():
    # ep_alltoall_only_time_s with one latency per peer (no DeepEP): (n-1)/n of the message over beta
    from moekit.evaluate import evaluate
    from moekit.spec.inputs import Strategy, Workload

    hw = moekit.load_hardware("h200")
    v = evaluate(moekit.load_model("qwen3-30b-a3b"), hw, Workload(batch=64, prompt_len=1024, output_len=8),
                 Strategy(dp=8, ep=8)).values
    law = v["decode_ep_alltoall_message_bytes"] * 7 / 8 / hw.alltoall_bandwidth + 7 * hw.alltoall_latency
    assert v["decode_ep_alltoall_only_time_s"] == pytest.approx(law, rel=1e-12)
