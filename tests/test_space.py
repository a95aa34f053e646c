"""The strategy space: exactly the valid folded strategies, built as arrays."""

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from moekit.plan.space import SpaceLimits, enumerate_space, product_notation, stage_layers, violations
from moekit.spec.inputs import Model, Strategy, Targets, Workload
from moekit.spec.presets import load_hardware

HW = load_hardware("h100-sxm")


def tiny(num_layers=4, num_heads=8, num_kv_heads=2, num_experts=8, expert_ffn_dim=512) -> Model:
    return Model(name="tiny", num_layers=num_layers, d_model=32 * num_heads, vocab_size=1000,
                 num_heads=num_heads, num_kv_heads=num_kv_heads, num_experts=num_experts, top_k=2,
                 expert_ffn_dim=expert_ffn_dim)


def brute_force(model, workload, targets, limits, max_degree=64):
    """Every degree tuple that `violations` accepts, by plain loops."""
    out = set()
    low, high = (targets.gpus, targets.gpus) if targets.gpus else (1, targets.max_gpus)
    rng = range(1, max_degree + 1)
    for dp, tp, pp in itertools.product(rng, rng, range(1, model.num_layers + 1)):
        if not low <= dp * tp * pp <= high:
            continue
        for ep, etp, m in itertools.product(rng, rng, rng):
            if (dp * tp) % (ep * etp):
                continue
            s = Strategy(dp=dp, tp=tp, pp=pp, ep=ep, etp=etp, microbatches=m)
            if not violations(s, model, HW, workload, targets, limits):
                out.add((dp, tp, pp, ep, etp, m))
    return out


def as_set(df):
    return set(map(tuple, df[["dp", "tp", "pp", "ep", "etp", "microbatches"]].to_numpy().tolist()))


def test_space_is_exactly_the_valid_strategies_on_a_budget():
    model, workload = tiny(), Workload(batch=8, prompt_len=64)
    targets = Targets(gpus=8)
    assert as_set(enumerate_space(model, HW, workload, targets)) == brute_force(
        model, workload, targets, SpaceLimits(), max_degree=8)


def test_space_is_exactly_the_valid_strategies_with_ample_gpus_and_uneven_batches():
    model, workload = tiny(num_layers=3), Workload(batch=6, prompt_len=64)
    targets, limits = Targets(max_gpus=12), SpaceLimits(even_batch_split=False)
    space = enumerate_space(model, HW, workload, targets, limits)
    assert as_set(space) == brute_force(model, workload, targets, limits, max_degree=12)
    padded = space[space.batch_padding > 0]
    assert len(padded) and (padded.seqs_per_microbatch * padded.dp * padded.microbatches
                            > workload.batch).all()


def test_uneven_layer_split_is_allowed_and_shown():
    space = enumerate_space(tiny(num_layers=5), HW, Workload(batch=4, prompt_len=8), Targets(gpus=2))
    row = space[(space.pp == 2)].iloc[0]
    assert row.layers_per_stage == 3 and row.min_layers_per_stage == 2 and row.uneven_layers
    assert stage_layers(5, 2) == [3, 2] and stage_layers(61, 4) == [16, 15, 15, 15]


def test_tp_groups_stay_inside_a_node_unless_allowed():
    model = tiny(num_heads=16, num_kv_heads=16)
    workload = Workload(batch=16, prompt_len=8)
    inside = enumerate_space(model, HW, workload, Targets(gpus=16))
    assert inside.tp.max() == HW.gpus_per_node
    across = enumerate_space(model, HW, workload, Targets(gpus=16),
                             SpaceLimits(tp_within_node=False))
    assert across.tp.max() == 16


def test_seed_product_strategy_lies_in_the_folded_space():
    """EP64-TP8-PP2-DP2 (world = 2048) folds to dp=128, etp=8: a member of the space."""
    model = Model(name="seed-30b", num_layers=16, d_model=1024, vocab_size=32000, num_heads=16,
                  attention="mha", num_experts=64, top_k=2, expert_ffn_dim=2048, gated_ffn=False)
    s = Strategy.parse("EP64-TP8-PP2-DP2", "product")
    workload = Workload(batch=128, prompt_len=1024)
    space = enumerate_space(model, HW, workload, Targets(gpus=2048))
    assert (s.dp, s.tp, s.pp, s.ep, s.etp, s.microbatches) in as_set(space)
    assert product_notation(s.dp, s.tp, s.pp, s.ep, s.etp) == "EP64-TP8-PP2-DP2"


def test_violations_name_what_is_wrong():
    problems = violations(Strategy(dp=1, tp=3, pp=9), tiny(num_heads=6, num_kv_heads=6), HW,
                          Workload(batch=8, prompt_len=8), Targets(gpus=16))
    text = " | ".join(problems)
    assert "tp=3 does not divide gpus_per_node=8" in text
    assert "pp=9 exceeds 4 layers" in text
    assert "uses 27 GPUs, the budget is 16" in text


@settings(max_examples=30, deadline=None)
@given(layers=st.integers(1, 6), heads=st.sampled_from([1, 2, 4, 6, 8, 16]),
       experts=st.sampled_from([0, 2, 4, 6, 8]), ffn=st.sampled_from([64, 96, 128]),
       batch=st.integers(1, 24), gpus=st.integers(0, 24), uneven=st.booleans())
def test_every_enumerated_strategy_is_valid(layers, heads, experts, ffn, batch, gpus, uneven):
    model = Model(name="h", num_layers=layers, d_model=heads * 16, vocab_size=100, num_heads=heads,
                  num_experts=experts, top_k=min(2, experts), expert_ffn_dim=ffn if experts else 0,
                  dense_ffn_dim=0 if experts else ffn)
    workload = Workload(batch=batch, prompt_len=4)
    targets, limits = Targets(gpus=gpus, max_gpus=24), SpaceLimits(even_batch_split=not uneven)
    space = enumerate_space(model, HW, workload, targets, limits)
    for row in space.itertuples():
        s = Strategy(dp=row.dp, tp=row.tp, pp=row.pp, ep=row.ep, etp=row.etp,
                     microbatches=row.microbatches)
        assert violations(s, model, HW, workload, targets, limits) == [], s.label
        assert row.gpus == s.gpus and row.edp == s.edp
