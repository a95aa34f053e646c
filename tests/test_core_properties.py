"""Laws the cost model must obey, checked over random models, workloads and strategies."""

import math

import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import moekit
from moekit import Strategy, Workload, evaluate
from moekit.evaluate import all_inputs, evaluate_arrays
from moekit.formulas import REGISTRY, SYMBOLS, expanded
from moekit.spec.inputs import divisors

MODELS = {n: moekit.load_model(n) for n in
          ("mixtral-8x7b", "qwen3-30b-a3b", "deepseek-v3", "seed-30b-moe", "olmoe-1b-7b")}
GPUS = {n: moekit.load_hardware(n) for n in ("h100-sxm", "h200", "seed-gpu")}
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def deployments(draw):
    model = MODELS[draw(st.sampled_from(sorted(MODELS)))]
    gpu = GPUS[draw(st.sampled_from(sorted(GPUS)))]
    tp = draw(st.sampled_from([t for t in divisors(model.num_heads) if t <= 16]))
    dp = draw(st.sampled_from([1, 2, 4, 8]))
    pp = draw(st.sampled_from([p for p in (1, 2, 3, 4, 8) if p <= model.num_layers]))
    ep = draw(st.sampled_from([e for e in divisors(model.num_experts) if (dp * tp) % e == 0]))
    etp = draw(st.sampled_from([e for e in divisors((dp * tp) // ep)
                                if model.expert_ffn_dim % e == 0]))
    m = draw(st.sampled_from([1, 2, 4]))
    workload = Workload(batch=dp * m * draw(st.integers(1, 16)), prompt_len=draw(st.integers(1, 8192)),
                        output_len=draw(st.integers(1, 2048)),
                        weight_dtype=draw(st.sampled_from(["bf16", "fp8"])),
                        compute_dtype="bf16")
    return model, gpu, workload, Strategy(dp=dp, tp=tp, pp=pp, ep=ep, etp=etp, microbatches=m)


@SETTINGS
@given(deployments())
def test_predictions_never_beat_the_speed_of_light(deployment):
    r = evaluate(*deployment)
    assert r["ttft_s"] >= r["ttft_lower_bound_s"] * (1 - 1e-9)
    assert r["tpot_s"] >= r["tpot_lower_bound_s"] * (1 - 1e-9)
    assert r["decode_tokens_per_s_per_gpu"] <= r["decode_tokens_per_s_per_gpu_upper_bound"] * (1 + 1e-9)
    assert r["prefill_tokens_per_s_per_gpu"] <= r["prefill_tokens_per_s_per_gpu_upper_bound"] * (1 + 1e-9)


@SETTINGS
@given(deployments())
def test_more_tp_or_pp_never_raises_weight_memory(deployment):
    model, gpu, workload, s = deployment
    base = evaluate(model, gpu, workload, s)["weight_bytes_per_gpu"]
    if model.num_heads % (2 * s.tp) == 0:
        more_tp = Strategy(dp=s.dp, tp=2 * s.tp, pp=s.pp, ep=s.ep, etp=s.etp, microbatches=s.microbatches)
        assert evaluate(model, gpu, workload, more_tp)["weight_bytes_per_gpu"] <= base
    if 2 * s.pp <= model.num_layers:
        more_pp = Strategy(dp=s.dp, tp=s.tp, pp=2 * s.pp, ep=s.ep, etp=s.etp, microbatches=s.microbatches)
        assert evaluate(model, gpu, workload, more_pp)["weight_bytes_per_gpu"] <= base


@SETTINGS
@given(deployments())
def test_dp_never_lowers_weight_memory(deployment):
    model, gpu, workload, s = deployment
    more_dp = Strategy(dp=2 * s.dp, tp=s.tp, pp=s.pp, ep=s.ep, etp=s.etp, microbatches=s.microbatches)
    assert (evaluate(model, gpu, workload, more_dp)["weight_bytes_per_gpu"]
            >= evaluate(model, gpu, workload, s)["weight_bytes_per_gpu"])


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("tp,pp", [(1, 1), (2, 1), (4, 2), (8, 1)])
def test_weight_shards_add_up_to_the_whole(name, tp, pp):
    """dp=1, experts split tp ways (edp=1), pp dividing the layers: every weight is held once,
    except the norms and routers that each TP rank replicates."""
    model = MODELS[name]
    if model.num_heads % tp or model.num_experts % tp or model.num_layers % pp:
        pytest.skip("degrees do not divide this model")
    w = Workload(batch=1, prompt_len=1)
    s = Strategy(tp=tp, pp=pp, ep=tp)
    r = evaluate(model, GPUS["h100-sxm"], w, s)
    if pp > 1 and model.num_dense_layers:
        pytest.skip("stages differ when leading layers are dense")
    replicated = (tp - 1) * (model.num_layers * r["norm_params"] + model.num_moe_layers * r["router_params"])
    # with pp > 1 the embedding sits on the first stage and the head on the last; untied: 2 tables
    held = r["weight_bytes_per_gpu"] * tp * pp
    if pp > 1:
        held -= r["embedding_weight_bytes_per_gpu"] * tp * pp  # each stage was charged one table
        held += 2 * r["embedding_params"] * 2  # the two stages that really hold one table each
    assert held == pytest.approx((r["total_params"] - model.d_model + replicated) * 2, rel=1e-12)


@pytest.mark.parametrize("attention,model_name", [("gqa", "mixtral-8x7b"), ("mla", "deepseek-v3")])
def test_symbolic_and_lambdified_values_agree(attention, model_name):
    model = MODELS[model_name]
    w = Workload(batch=32, prompt_len=3000, output_len=500)
    s = Strategy(dp=2, tp=4, pp=2, ep=8, microbatches=2)
    inputs = all_inputs(model, GPUS["h200"], w, s)
    numeric = evaluate_arrays(attention, inputs)
    subs = {SYMBOLS[n].symbol: sp.Float(v) for n, v in inputs.items()}
    for name in ("total_params", "memory_bytes_per_gpu", "ttft_s", "tpot_s",
                 "decode_tokens_per_s_per_gpu", "tpot_lower_bound_s"):
        symbolic = float(expanded(name, attention).xreplace(subs).evalf())
        assert symbolic == pytest.approx(float(numeric[name]), rel=1e-9), name


def test_vectorised_evaluation_equals_point_by_point():
    model = MODELS["qwen3-30b-a3b"]
    gpu = GPUS["h100-sxm"]
    w = Workload(batch=64, prompt_len=2048, output_len=256)
    strategies = [Strategy(dp=d, tp=t, ep=e) for d in (1, 2, 4) for t in (1, 2, 4) for e in (1, 2)
                  if (d * t) % e == 0]
    inputs = all_inputs(model, gpu, w, strategies[0])
    for key in ("dp", "tp", "pp", "ep", "etp", "microbatches"):
        inputs[key] = np.array([getattr(s, key) for s in strategies])
    arrays = evaluate_arrays(model.attention, inputs)
    for i, s in enumerate(strategies):
        one = evaluate(model, gpu, w, s)
        for name in ("ttft_s", "tpot_s", "memory_bytes_per_gpu"):
            assert arrays[name][i] == pytest.approx(one[name], rel=1e-12)


def test_every_formula_has_a_unit_and_a_meaning():
    for f in REGISTRY.values():
        assert f.unit and f.doc and f.latex, f.name
    for info in SYMBOLS.values():
        assert info.unit and info.description, info.name


def test_every_formula_is_finite_for_a_dense_model():
    dense = moekit.Model(name="dense-7b", num_layers=32, d_model=4096, vocab_size=32000,
                         num_heads=32, dense_ffn_dim=11008)
    r = evaluate(dense, GPUS["h100-sxm"], Workload(batch=4, prompt_len=128), Strategy(tp=2))
    bad = [n for n, v in r.values.items() if not math.isfinite(v)]
    assert not bad
    assert r["total_params"] == pytest.approx(6.74e9, rel=0.01)  # Llama-2-7B: 6.74 B


def test_latex_names_are_unique():
    names = [f.latex for f in REGISTRY.values()] + [s.latex for s in SYMBOLS.values()]
    assert len(names) == len(set(names))
