"""Launch commands: every flag exists in the recorded engine release, the folded strategy maps to
the engines' own degrees, and what an engine cannot express is refused, never written wrong."""

from __future__ import annotations

import re

import pytest

from moekit.errors import SpecError
from moekit.plan.launch import (
    Pool,
    ServingOptions,
    _spec,
    check_flags,
    launch_commands,
    sglang_commands,
    vllm_commands,
)
from moekit.spec.inputs import Strategy

S = Strategy.parse
DS = "deepseek-ai/DeepSeek-V3"
QWEN = "Qwen/Qwen3-30B-A3B"


def lines(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def commands(value: str | list[str]) -> list[str]:
    return [line for line in lines(value) if not line.startswith("#")]


def engine_of(line: str) -> str:
    """The recorded flag list a line runs against (data/engines/<stem>.yaml)."""
    if "sglang_router.launch_router" in line:
        return "sglang-router"
    return "sglang" if "sglang.launch_server" in line else "vllm"


def agg(strategy: str, gpus: int, batch: int = 64) -> tuple[str, Pool, Pool]:
    pool = Pool(S(strategy), gpus, batch)
    return "agg", pool, pool


def disagg(pre: str, pre_gpus: int, dec: str, dec_gpus: int) -> tuple[str, Pool, Pool]:
    return "disagg", Pool(S(pre), pre_gpus, 8), Pool(S(dec), dec_gpus, 128)


GRID = {
    "agg TP8, one node": (QWEN, agg("TP8", 8), {}),
    "agg DP2-EP2 x4 copies (aiconfigurator's answer)": (QWEN, agg("DP2-EP2", 8), {}),
    "agg DP8-EP8 DeepEP low-latency, TBO, fp8 KV": (
        DS, agg("DP8-EP8", 8), {"a2a": "deepep-low-latency", "two_batch_overlap": True,
                                "kv_dtype": "fp8", "weight_dtype": "fp8"}),
    "agg DP16-EP16 on two nodes, DeepEP normal, EPLB": (
        DS, agg("DP16-EP16", 16), {"a2a": "deepep-normal", "redundant_experts": 32}),
    "agg DP8-EP8 MTP 2 tokens, chunked prefill": (
        DS, agg("DP8-EP8", 8), {"mtp_tokens": 2, "chunked_prefill_tokens": 4096}),
    "agg TP8-PP2-EP8 over two nodes": (DS, agg("TP8-PP2-EP8-M2", 16), {}),
    "agg DP2-TP4-EP8 x2 on 16 GPUs": (DS, agg("DP2-TP4-EP8", 16), {"kv_dtype": "fp8"}),
    "disagg 4 x TP1 prefill + DP4-EP4 decode on one node": (
        QWEN, disagg("TP1", 4, "DP4-EP4", 4), {"chunked_prefill_tokens": 8192}),
    "disagg DeepSeek DP8-EP8 + DP16-EP16, DeepEP per phase, TBO, EPLB, fp8": (
        DS, disagg("DP8-EP8", 8, "DP16-EP16", 16),
        {"a2a": "deepep", "two_batch_overlap": True, "redundant_experts": 32,
         "weight_dtype": "fp8", "kv_dtype": "fp8"}),
    "disagg 3 prefill nodes + 2-node decode with MTP": (
        DS, disagg("DP8-EP8", 24, "DP16-EP16", 16), {"a2a": "deepep", "mtp_tokens": 1}),
    "disagg PP2 prefill over two nodes + DP8-EP8 decode": (
        DS, disagg("TP8-PP2-EP8-M2", 16, "DP8-EP8", 8), {"kv_dtype": "fp8"}),
}


@pytest.fixture(params=list(GRID), ids=list(GRID))
def deployment(request):
    model, (mode, prefill, decode), options = GRID[request.param]
    return launch_commands(model, mode, prefill, decode, max_model_len=4608, **options)


def test_every_emitted_flag_exists_in_the_recorded_release(deployment):
    for engine in ("vllm", "sglang"):
        for line in commands(deployment[engine]):
            assert check_flags(line, engine_of(line)) == [], line


def test_no_emitted_flag_is_deprecated_in_the_recorded_release(deployment):
    for engine in ("vllm", "sglang"):
        for line in commands(deployment[engine]):
            deprecated = set(_spec(engine_of(line))["deprecated"])
            assert not deprecated & set(line.split()), line


def test_commands_name_the_release_they_were_checked_against(deployment):
    assert deployment["checked_against"] == (
        "vllm 0.33.0 (data/engines/vllm.yaml), sglang 0.5.23 (data/engines/sglang.yaml), "
        "sglang-router 0.3.2 (data/engines/sglang-router.yaml)")
    for engine, version in (("vllm", "vllm 0.33.0"), ("sglang", "sglang 0.5.23")):
        if isinstance(deployment[engine], list):
            assert deployment[engine][0].startswith(f"# {version}")


def test_one_single_node_instance_is_one_line_per_engine():
    out = launch_commands(QWEN, *agg("TP8", 8), max_model_len=4608)
    assert out["vllm"] == ("vllm serve Qwen/Qwen3-30B-A3B --tensor-parallel-size 8 --max-model-len 4608 "
                           "--max-num-seqs 64 --port 8100")
    assert out["sglang"] == ("python -m sglang.launch_server --model-path Qwen/Qwen3-30B-A3B --tp-size 8 "
                             "--context-length 4608 --max-running-requests 64 --host 0.0.0.0 --port 30000")


def test_attention_dp_folds_into_sglang_tp_size_and_vllm_data_parallel():
    out = launch_commands(DS, *agg("DP2-TP4-EP8", 8, batch=32), max_model_len=4096,
                          chunked_prefill_tokens=2048)
    # SGLang counts the instance: tp-size = dp*tp, running requests and chunk for all DP ranks
    assert ("--tp-size 8 --attn-dp-size 2 --ep-size 8 --context-length 4096 --max-running-requests 64 "
            "--chunked-prefill-size 4096") in out["sglang"]
    # vLLM: EP spans tp x dp; each DP rank is an engine core with its own limits
    assert ("--tensor-parallel-size 4 --data-parallel-size 2 --enable-expert-parallel --max-model-len "
            "4096 --max-num-seqs 32 --max-num-batched-tokens 2048") in out["vllm"]


def test_an_instance_over_two_nodes_gets_one_line_per_node():
    out = launch_commands(DS, *agg("DP16-EP16", 16), max_model_len=4096)
    sglang, vllm = commands(out["sglang"]), commands(out["vllm"])
    assert len(sglang) == len(vllm) == 2
    for rank, line in enumerate(sglang):
        assert line.endswith(f'--nnodes 2 --node-rank {rank} --dist-init-addr "$NODE0_IP:5000"')
    assert vllm[0].endswith('--nnodes 2 --node-rank 0 --master-addr "$NODE0_IP"')
    assert vllm[1].endswith('--nnodes 2 --node-rank 1 --master-addr "$NODE0_IP" --headless')


def test_colocated_instances_get_their_own_gpus_and_ports():
    out = launch_commands(QWEN, *agg("DP2-EP2", 8), max_model_len=4096)
    sglang = commands(out["sglang"])
    assert [line.split("--port ")[1] for line in sglang[:4]] == ["30000", "30002", "30004", "30006"]
    assert "--base-gpu-id 6" in sglang[3]
    assert sglang[4] == ('python -m sglang_router.launch_router --worker-urls "http://$NODE0_IP:30000" '
                         '"http://$NODE0_IP:30002" "http://$NODE0_IP:30004" "http://$NODE0_IP:30006" '
                         "--host 0.0.0.0 --port 8000")
    vllm = out["vllm"]
    assert [line.split()[0] for line in commands(vllm)] == [
        "CUDA_VISIBLE_DEVICES=0,1", "CUDA_VISIBLE_DEVICES=2,3", "CUDA_VISIBLE_DEVICES=4,5",
        "CUDA_VISIBLE_DEVICES=6,7"]
    assert "ships no load balancer" in vllm[-1]


def test_disaggregated_pools_are_paired_by_the_router_and_the_nixl_connector():
    out = launch_commands(DS, *disagg("DP8-EP8", 8, "DP16-EP16", 16), max_model_len=4096, a2a="deepep")
    sglang = commands(out["sglang"])
    assert "--disaggregation-mode prefill --disaggregation-transfer-backend mooncake" in sglang[0]
    assert "--deepep-mode normal" in sglang[0] and "--disaggregation-bootstrap-port 8998" in sglang[0]
    assert all("--disaggregation-mode decode" in line and "--deepep-mode low_latency" in line
               for line in sglang[1:3])
    assert sglang[3] == ('python -m sglang_router.launch_router --pd-disaggregation --prefill '
                         '"http://$NODE0_IP:30000" 8998 --decode "http://$NODE1_IP:30000" '
                         "--host 0.0.0.0 --port 8000")
    vllm = commands(out["vllm"])
    assert all('\'{"kv_connector":"NixlConnector","kv_role":"kv_both"}\'' in line for line in vllm)
    assert "--all2all-backend deepep_high_throughput" in vllm[0]
    assert "--all2all-backend deepep_low_latency" in vllm[1]
    assert vllm[2].startswith('VLLM_NIXL_SIDE_CHANNEL_HOST="$NODE2_IP" VLLM_NIXL_SIDE_CHANNEL_PORT=5600 ')
    assert "ships no prefill/decode proxy" in out["vllm"][-2]


def test_mtp_and_eplb_flags():
    out = launch_commands(DS, *agg("DP8-EP8", 8), max_model_len=4096, mtp_tokens=3,
                          redundant_experts=32)
    assert ("--speculative-algorithm NEXTN --speculative-num-steps 3 --speculative-eagle-topk 1 "
            "--speculative-num-draft-tokens 4 --enable-eplb --ep-num-redundant-experts 32") in out["sglang"]
    assert ("--speculative-config '{\"method\":\"mtp\",\"num_speculative_tokens\":3}' --enable-eplb "
            "--eplb-config '{\"num_redundant_experts\":32}'") in out["vllm"]


def test_a_made_up_flag_is_reported():
    assert check_flags("vllm serve m --tensor-parallel-size 2 --made-up-flag 3", "vllm") == ["--made-up-flag"]
    assert check_flags("python -m sglang.launch_server --model-path m --enable-magic", "sglang") == [
        "--enable-magic"]


def test_a_value_outside_the_recorded_choices_is_reported():
    line = "python -m sglang.launch_server --model-path m --kv-cache-dtype fp9 --deepep-mode low_latency"
    assert check_flags(line, "sglang") == ["--kv-cache-dtype=fp9"]
    assert check_flags("vllm serve m --all2all-backend=deepep_turbo", "vllm") == [
        "--all2all-backend=deepep_turbo"]


def test_aliases_negations_and_vllm_parser_forms_are_accepted():
    assert check_flags("python -m sglang.launch_server --model m --tensor-parallel-size 2", "sglang") == []
    assert check_flags("VLLM_X=1 vllm serve m -tp 2 --tensor_parallel_size 2 --no-enable-dbo "
                       "--speculative-config.method=mtp", "vllm") == []


def test_the_check_is_per_release():
    line = "python -m sglang.launch_server --model-path m --tp-size 8 --attn-dp-size 8"
    assert check_flags(line, "sglang") == []
    assert check_flags(line, "sglang-0.4.6.post5") == ["--attn-dp-size"]  # 0.4.6: --enable-dp-attention


def test_a_line_of_another_program_is_not_checked_silently():
    with pytest.raises(SpecError, match="does not run 'python -m sglang.launch_server'"):
        check_flags("python -m sglang_router.launch_router --pd-disaggregation", "sglang")
    with pytest.raises(SpecError, match="no recorded flag list"):
        check_flags("vllm serve m", "tensorrt-llm")


OPTS = ServingOptions(max_model_len=4096)


def same(strategy: str | Strategy, gpus: int) -> tuple[str, Pool, Pool]:
    pool = Pool(S(strategy) if isinstance(strategy, str) else strategy, gpus, 8)
    return "agg", pool, pool


def opts(**fields) -> ServingOptions:
    return ServingOptions(max_model_len=4096, **fields)


REFUSED = {
    "vLLM: expert-TP inside EP": (
        vllm_commands, same(Strategy(dp=2, tp=2, ep=2, etp=2), 4), OPTS,
        "ep=2, etp=2: vLLM 0.33.0's --enable-expert-parallel"),
    "vLLM: experts sharded over tp but replicated over dp": (
        vllm_commands, same("DP2-TP4", 8), OPTS, "ep=1, etp=4: without expert parallelism"),
    "SGLang: expert copies (edp > 1)": (
        sglang_commands, same(Strategy(dp=2, tp=2, ep=2, etp=1), 4), OPTS, "edp=2"),
    "both: micro-batches other than pp": (
        sglang_commands, same("TP8-PP2-EP8-M4", 16), OPTS, "microbatches=4"),
    "both: micro-batches without PP": (vllm_commands, same("DP8-EP8-M2", 8), OPTS, "microbatches=2"),
    "both: DeepEP without EP over the stage": (
        sglang_commands, same("TP8", 8), opts(a2a="deepep-normal"), "a2a='deepep-normal' with ep=1"),
    "both: EPLB without EP": (
        vllm_commands, same("TP8", 8), opts(redundant_experts=8), "redundant_experts=8 needs ep > 1"),
    "vLLM: DeepEP with dp=1": (
        vllm_commands, same("TP8-EP8", 8), opts(a2a="deepep-low-latency"), "with dp=1"),
    "vLLM: per-phase DeepEP on an aggregated server": (
        vllm_commands, same("DP8-EP8", 8), opts(a2a="deepep"), "server needs one"),
    "vLLM: DBO without DeepEP": (
        vllm_commands, same("DP8-EP8", 8), opts(two_batch_overlap=True), "--enable-dbo needs a DeepEP"),
    "vLLM: DBO with MTP": (
        vllm_commands, same("DP8-EP8", 8),
        opts(two_batch_overlap=True, a2a="deepep-low-latency", mtp_tokens=1), "mtp_tokens=1)"),
    "SGLang: TBO with neither DeepEP nor attention DP": (
        sglang_commands, same("TP8-EP8", 8), opts(two_batch_overlap=True), "needs dp > 1"),
    "SGLang: MTP with PP on a decode server": (
        sglang_commands, ("disagg", Pool(S("DP8-EP8"), 8, 8), Pool(S("TP8-PP2-EP8-M2"), 16, 8)),
        opts(mtp_tokens=1), "mtp_tokens=1 with pp=2"),
    "an instance straddling nodes": (
        sglang_commands, ("disagg", Pool(S("TP1"), 4, 8), Pool(S("DP8-EP8"), 8, 8)), OPTS,
        "instance 0 would straddle nodes"),
    "an instance that neither fills nor packs nodes": (
        vllm_commands, same("DP3-EP3", 3), OPTS, "neither fills"),
    "agg with two different pools": (
        vllm_commands, ("agg", Pool(S("TP8"), 8, 8), Pool(S("TP8"), 8, 16)), OPTS, "same Pool twice"),
    "an unknown mode": (sglang_commands, ("both", *same("TP8", 8)[1:]), OPTS, "mode='both'"),
}


@pytest.mark.parametrize("build, deployment_, options, message", list(REFUSED.values()),
                         ids=list(REFUSED))
def test_what_an_engine_cannot_express_is_refused(build, deployment_, options, message):
    with pytest.raises(SpecError, match=re.escape(message)):
        build(QWEN, *deployment_, options)


def test_the_other_engine_still_builds_what_one_refuses():
    pool = Pool(Strategy(dp=2, tp=2, ep=2, etp=2), 4, 8)  # expert-TP inside EP: SGLang's moe-TP
    assert "--tp-size 4 --attn-dp-size 2 --ep-size 2" in sglang_commands(QWEN, "agg", pool, pool, OPTS)
    with pytest.raises(SpecError, match="etp=2"):
        launch_commands(QWEN, "agg", pool, pool, max_model_len=4096)


@pytest.mark.parametrize("fields, message", [
    ({"a2a": "pplx"}, "a2a='pplx'"), ({"kv_dtype": "fp4"}, "kv_dtype='fp4'"),
    ({"mtp_tokens": -1}, "mtp_tokens=-1"), ({"chunked_prefill_tokens": 0}, "chunked_prefill_tokens=0"),
])
def test_bad_options_name_the_field(fields, message):
    with pytest.raises(SpecError, match=message):
        ServingOptions(max_model_len=4096, **fields)


def test_a_pool_is_whole_instances():
    with pytest.raises(SpecError, match="gpus=6 is not a multiple of the 4 GPUs"):
        Pool(S("DP4-EP4"), 6, 8)
    assert Pool(S("DP4-EP4"), 8, 8).instances == 2
