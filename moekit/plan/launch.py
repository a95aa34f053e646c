"""Launch commands for a planned deployment on vLLM and SGLang, checked against their recorded flags.

The flag lists in `data/engines/*.yaml` are read from each engine's own argument definitions for a
named release (data/engines/README.md; each file's `source:` names the wheel); every command built
here is checked against them (`check_flags`) and names the release in `checked_against`: vLLM
0.33.0 (`vllm.yaml`), SGLang 0.5.23 (`sglang.yaml`) and its router sglang-router 0.3.2
(`sglang-router.yaml`, the module SGLang 0.5.23's own PD test fixture launches).

A `Pool` is one or more identical instances of one strategy (moekit's folded convention: per
pipeline stage attention runs dp x tp, experts fold onto the same dp * tp GPUs as ep x etp x edp).

| moekit               | SGLang 0.5.23                          | vLLM 0.33.0                           |
|----------------------|----------------------------------------|---------------------------------------|
| dp * tp (a stage)    | --tp-size dp*tp                        | --data-parallel-size dp,              |
|                      |                                        | --tensor-parallel-size tp             |
| dp (attention DP)    | --attn-dp-size dp (attn TP = tp-size   | --data-parallel-size dp               |
|                      | / dp)                                  |                                       |
| ep, etp              | --ep-size ep (moe TP = tp-size / ep,   | ep = dp*tp, etp = 1:                  |
|                      | which must be etp)                     | --enable-expert-parallel;             |
|                      |                                        | ep = 1, etp = dp*tp: no flag          |
| edp (expert copies)  | 1 (--moe-dp-size needs attention CP)   | 1                                     |
| pp                   | --pp-size pp                           | --pipeline-parallel-size pp           |
| microbatches         | = pp (1 without PP, 2 with TBO)        | = pp (1 without PP, 2 with DBO)       |
| Pool.batch           | --max-running-requests batch*dp        | --max-num-seqs batch                  |
| chunked_prefill      | --chunked-prefill-size c*dp            | --max-num-batched-tokens c            |
| max_model_len        | --context-length                       | --max-model-len                       |
| weight_dtype fp8     | --quantization fp8                     | --quantization fp8                    |
| kv_dtype fp8         | --kv-cache-dtype fp8_e4m3              | --kv-cache-dtype fp8 (e4m3 on CUDA)   |
| a2a deepep-normal,   | --moe-a2a-backend deepep               | --all2all-backend                     |
| deepep-low-latency   | --deepep-mode normal / low_latency     | deepep_high_throughput / _low_latency |
| a2a deepep           | per pool: prefill normal, decode       | per pool as above; agg refused (vLLM  |
|                      | low_latency, agg auto                  | has no auto mode)                     |
| two_batch_overlap    | --enable-two-batch-overlap             | --enable-dbo                          |
| mtp_tokens k         | --speculative-algorithm NEXTN          | --speculative-config                  |
|                      | --speculative-num-steps k              | '{"method":"mtp",                     |
|                      | --speculative-eagle-topk 1             | "num_speculative_tokens":k}'          |
|                      | --speculative-num-draft-tokens k+1     |                                       |
| redundant_experts r  | --enable-eplb                          | --enable-eplb --eplb-config           |
|                      | --ep-num-redundant-experts r           | '{"num_redundant_experts":r}'         |
| instance on n nodes  | --nnodes n --node-rank i               | --nnodes n --node-rank i              |
|                      | --dist-init-addr HEAD:5000             | --master-addr HEAD (--headless, i>0)  |
| disaggregated pools  | --disaggregation-mode prefill / decode | --kv-transfer-config '{"kv_connector":|
|                      | --disaggregation-transfer-backend      | "NixlConnector","kv_role":"kv_both"}' |
|                      | mooncake; sglang_router.launch_router  | + VLLM_NIXL_SIDE_CHANNEL_HOST/PORT;   |
|                      | --pd-disaggregation --prefill URL PORT | no proxy ships with vLLM: a comment   |
|                      | --decode URL                           | line names the repository's test one  |

Why these and not others, from the engines' sources:
- SGLang 0.5.23 deprecates `--dp-size N --enable-dp-attention` (it resolves to `--attn-dp-size N`;
  `--dp-size` now counts model replicas, which cannot span nodes or combine with attention DP).
  `--max-running-requests` and `--chunked-prefill-size` are per instance: SGLang divides them by
  attn_dp_size per rank. DeepEP makes SGLang set ep_size = tp_size, so it needs etp = 1.
- vLLM's MoE layers shard over all dp * tp GPUs of a stage (FusedMoEParallelConfig.make): expert
  parallel over all of them, or expert-TP over all of them; each DP rank is an engine core with its
  own scheduler, so --max-num-seqs is per DP rank. Its all-to-all backends run only with dp > 1;
  DBO needs a DeepEP backend and dp > 1; DBO with PP or speculative decoding is refused here as
  VllmConfig._get_dbo_unsupported_features lists them for the default (V2) runner (whether the V1
  fallback runs them is not checked). It keeps pp batches in flight (max_concurrent_batches).
- MTP runs on the prefill servers too, so the KV cache they send holds the draft layer's as the
  decode servers expect. SGLang runs MTP with PP only on prefill servers
  (validation_hook.check_pipeline_parallel_compat).
- Both engines decide how dense FFN layers and shared experts are sharded under attention DP
  (SGLang: --moe-dense-tp-size, model overrides); moekit costs them as 1/tp shards with dp copies.
- The commands assume an MoE model: a dense model runs dp = 1 per instance (more instances).

Hosts are shell variables: `$NODE{k}_IP` is the address of node k of the deployment (GPUs
k*gpus_per_node ...); prefill GPUs come first, decode GPUs after them.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from functools import cache

from moekit.errors import SpecError
from moekit.resources import DATA_DIR
from moekit.spec.inputs import Strategy
from moekit.spec.presets import read_yaml
from moekit.spec.stack import ALL_TO_ALL

#: the recorded flag list each command is checked against (data/engines/<stem>.yaml)
ENGINE_FILES = {"vllm": "vllm", "sglang": "sglang", "router": "sglang-router"}
MODES = ("agg", "disagg")
#: "allgather": the engines' default EP (no all-to-all flag); "deepep": normal on prefill, low-latency
#: on decode
A2A = (*(a for a in ALL_TO_ALL if a != "nccl"), "deepep")
WEIGHT_DTYPES = ("bf16", "fp8")
KV_DTYPES = ("bf16", "fp8")
SGLANG_PORT, VLLM_PORT, ROUTER_PORT = 30000, 8100, 8000  # servers add their first GPU's index
BOOTSTRAP_PORT, NIXL_PORT, DIST_INIT_PORT = 8998, 5600, 5000  # engine defaults, GPU-offset
_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")  # a shell assignment before the command


@dataclass(frozen=True)
class Pool:
    """Identical engine instances of one strategy.

    strategy: the parallel degrees of one instance (folded convention).
    gpus: GPUs of the whole pool, a multiple of strategy.gpus (instances = gpus / strategy.gpus).
    batch: the most sequences one attention-DP rank (one scheduler) runs at once, all pipeline
        micro-batches together; an instance runs batch * strategy.dp, the pool batch * dp * instances.
    """

    strategy: Strategy
    gpus: int
    batch: int

    def __post_init__(self):
        where = f"pool {self.strategy.label}"
        for name in ("gpus", "batch"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise SpecError(where, f"{name}={value!r} must be an integer >= 1")
        if self.gpus % self.strategy.gpus:
            raise SpecError(where, f"gpus={self.gpus} is not a multiple of the {self.strategy.gpus} "
                            "GPUs of one instance")

    @property
    def instances(self) -> int:
        return self.gpus // self.strategy.gpus


@dataclass(frozen=True)
class ServingOptions:
    """Serving features shared by every server of a deployment (see `launch_commands`)."""

    max_model_len: int  # tokens: prompt + output of one request
    gpus_per_node: int = 8
    weight_dtype: str = "bf16"  # bf16: the checkpoint as published; fp8: --quantization fp8
    kv_dtype: str = "bf16"  # bf16: the engine's default (the model dtype)
    chunked_prefill_tokens: int | None = None  # prefill tokens per step per attention-DP rank
    a2a: str = "allgather"  # as Stack.all_to_all names it (allgather: engine default), or deepep: per phase
    two_batch_overlap: bool = False
    mtp_tokens: int = 0  # draft tokens per step from the model's own MTP layers
    redundant_experts: int = 0  # EPLB replicas of hot experts (memory against imbalance)

    def __post_init__(self):
        where = "launch options"
        for name, low in (("max_model_len", 1), ("gpus_per_node", 1), ("mtp_tokens", 0),
                          ("redundant_experts", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise SpecError(where, f"{name}={value!r} must be an integer >= {low}")
        if self.chunked_prefill_tokens is not None and (
                isinstance(self.chunked_prefill_tokens, bool)
                or not isinstance(self.chunked_prefill_tokens, int) or self.chunked_prefill_tokens < 1):
            raise SpecError(where, f"chunked_prefill_tokens={self.chunked_prefill_tokens!r} must be "
                            "an integer >= 1 or None (engine default)")
        for name, allowed in (("weight_dtype", WEIGHT_DTYPES), ("kv_dtype", KV_DTYPES), ("a2a", A2A)):
            if getattr(self, name) not in allowed:
                raise SpecError(where, f"{name}={getattr(self, name)!r}; use one of {', '.join(allowed)}")
        if not isinstance(self.two_batch_overlap, bool):
            raise SpecError(where, f"two_batch_overlap={self.two_batch_overlap!r} must be true or false")

    @property
    def deepep(self) -> bool:
        return self.a2a.startswith("deepep")

    def deepep_mode(self, role: str) -> str:
        """normal, low_latency or auto (agg with a2a='deepep') for a pool of `role`."""
        if self.a2a == "deepep":
            return {"prefill": "normal", "decode": "low_latency", "agg": "auto"}[role]
        return self.a2a.removeprefix("deepep-").replace("-", "_")


@dataclass(frozen=True)
class _Instance:
    """One engine instance: its role, its first global GPU and its size."""

    role: str  # agg | prefill | decode
    index: int
    first_gpu: int
    gpus: int
    gpus_per_node: int

    @property
    def nodes(self) -> list[int]:
        first = self.first_gpu // self.gpus_per_node
        return list(range(first, first + max(1, self.gpus // self.gpus_per_node)))

    @property
    def local_gpu(self) -> int:
        """Index of its first GPU inside its node: offsets ports so co-located instances differ."""
        return self.first_gpu % self.gpus_per_node

    @property
    def colocated(self) -> bool:
        """Fewer GPUs than a node: it may share its node, so it names its GPUs and ports."""
        return self.gpus < self.gpus_per_node

    def comment(self) -> str:
        last, nodes = self.first_gpu + self.gpus - 1, self.nodes
        gpus = f"GPU {last}" if self.gpus == 1 else f"GPUs {self.first_gpu}-{last}"
        on = f"node {nodes[0]}" if len(nodes) == 1 else f"nodes {nodes[0]}-{nodes[-1]}"
        return f"# {self.role} instance {self.index}: {gpus} on {on}"


def _instances(pool: Pool, role: str, first_gpu: int, gpn: int) -> list[_Instance]:
    """The pool's instances from GPU `first_gpu` on; none may straddle a node boundary."""
    n = pool.strategy.gpus
    where = f"{role} pool {pool.strategy.label}"
    if n % gpn and gpn % n:
        raise SpecError(where, f"an instance of {n} GPUs neither fills whole {gpn}-GPU nodes nor "
                        f"packs into one (choose dp*tp*pp dividing {gpn} or a multiple of it)")
    out = []
    for i in range(pool.instances):
        inst = _Instance(role, i, first_gpu + i * n, n, gpn)
        if (inst.local_gpu + n > gpn) if inst.colocated else inst.local_gpu:
            raise SpecError(where, f"instance {i} would straddle nodes (GPUs {inst.first_gpu}-"
                            f"{inst.first_gpu + n - 1}); make the pools before it fill whole nodes")
        out.append(inst)
    return out


def _deployment(mode: str, prefill: Pool, decode: Pool, gpn: int) -> list[tuple[Pool, _Instance]]:
    if mode not in MODES:
        raise SpecError("launch", f"mode={mode!r}; use one of {', '.join(MODES)}")
    if mode == "agg":
        if prefill != decode:
            raise SpecError("launch", "mode='agg' serves prefill and decode on one deployment; pass "
                            f"the same Pool twice (got {prefill} and {decode})")
        return [(prefill, i) for i in _instances(prefill, "agg", 0, gpn)]
    return ([(prefill, i) for i in _instances(prefill, "prefill", 0, gpn)]
            + [(decode, i) for i in _instances(decode, "decode", prefill.gpus, gpn)])


def _host(node: int) -> str:
    return f"$NODE{node}_IP"


def _check_common(s: Strategy, o: ServingOptions, where: str, engine: str) -> None:
    """Checks both engines share: micro-batches, EPLB, DeepEP's expert layout."""
    if s.pp > 1 and s.microbatches != s.pp:
        raise SpecError(where, f"microbatches={s.microbatches}: {engine} keeps pp={s.pp} batches in "
                        f"flight and has no flag for another count; use microbatches={s.pp}")
    allowed = (1, 2) if o.two_batch_overlap else (1,)
    if s.pp == 1 and s.microbatches not in allowed:
        raise SpecError(where, f"microbatches={s.microbatches}: without PP {engine} runs a batch as "
                        f"one micro-batch (two with two-batch overlap); use "
                        f"{' or '.join(map(str, allowed))}")
    if o.redundant_experts and s.ep == 1:
        raise SpecError(where, f"redundant_experts={o.redundant_experts} needs ep > 1 ({engine}'s "
                        "EPLB rebalances experts across EP ranks)")
    if o.deepep and (s.ep == 1 or s.ep != s.dp * s.tp):
        raise SpecError(where, f"a2a={o.a2a!r} with ep={s.ep}: DeepEP spans every GPU of a stage "
                        f"in {engine} (ep = dp*tp = {s.dp * s.tp}, etp = 1)")


# --------------------------------------------------------------------------- SGLang
def _sglang_parallel(s: Strategy, where: str) -> list[str]:
    group = s.dp * s.tp
    if s.edp > 1:
        raise SpecError(where, f"edp={s.edp} (ep*etp={s.ep * s.etp} < dp*tp={group}): SGLang 0.5.23 "
                        f"splits the experts of an instance over all --tp-size={group} GPUs as ep x "
                        "moe-TP; expert copies (--moe-dp-size > 1) need attention context "
                        f"parallelism, which moekit does not model; choose ep*etp = {group}")
    flags = ["--tp-size", str(group)]
    if s.dp > 1:
        flags += ["--attn-dp-size", str(s.dp)]
    if s.ep > 1:
        flags += ["--ep-size", str(s.ep)]
    if s.pp > 1:
        flags += ["--pp-size", str(s.pp)]
    return flags


def _sglang_features(pool: Pool, role: str, o: ServingOptions, where: str) -> list[str]:
    s = pool.strategy
    _check_common(s, o, where, "SGLang 0.5.23")
    if o.two_batch_overlap and not o.deepep and s.dp == 1:
        raise SpecError(where, "two_batch_overlap=True with a2a='allgather' needs dp > 1 (SGLang 0.5.23 "
                        "overlaps the attention-DP gathers then); or use a DeepEP a2a")
    if o.mtp_tokens and s.pp > 1 and role != "prefill":
        raise SpecError(where, f"mtp_tokens={o.mtp_tokens} with pp={s.pp}: SGLang 0.5.23 runs MTP with "
                        "PP only on disaggregated prefill servers; use pp=1 here")
    flags = _sglang_parallel(s, where)
    if o.weight_dtype == "fp8":
        flags += ["--quantization", "fp8"]
    if o.kv_dtype == "fp8":
        flags += ["--kv-cache-dtype", "fp8_e4m3"]
    flags += ["--context-length", str(o.max_model_len),
              "--max-running-requests", str(pool.batch * s.dp)]
    if o.chunked_prefill_tokens and role != "decode":
        flags += ["--chunked-prefill-size", str(o.chunked_prefill_tokens * s.dp)]
    if o.deepep:
        flags += ["--moe-a2a-backend", "deepep", "--deepep-mode", o.deepep_mode(role)]
    if o.two_batch_overlap:
        flags += ["--enable-two-batch-overlap"]
    if o.mtp_tokens:
        flags += ["--speculative-algorithm", "NEXTN", "--speculative-num-steps", str(o.mtp_tokens),
                  "--speculative-eagle-topk", "1",
                  "--speculative-num-draft-tokens", str(o.mtp_tokens + 1)]
    if o.redundant_experts:
        flags += ["--enable-eplb", "--ep-num-redundant-experts", str(o.redundant_experts)]
    if role != "agg":
        flags += ["--disaggregation-mode", role, "--disaggregation-transfer-backend", "mooncake"]
    return flags


def _sglang_server(model_id: str, pool: Pool, inst: _Instance, o: ServingOptions) -> list[str]:
    where = f"SGLang {inst.role} pool {pool.strategy.label}"
    base = ["python", "-m", "sglang.launch_server", "--model-path", model_id,
            *_sglang_features(pool, inst.role, o, where)]
    if inst.role == "prefill":
        base += ["--disaggregation-bootstrap-port", str(BOOTSTRAP_PORT + inst.local_gpu)]
    if inst.colocated and inst.local_gpu:
        base += ["--base-gpu-id", str(inst.local_gpu)]
    base += ["--host", "0.0.0.0", "--port", str(SGLANG_PORT + inst.local_gpu)]
    nodes = inst.nodes
    if len(nodes) == 1:
        return [_join(base)]
    head = f"{_host(nodes[0])}:{DIST_INIT_PORT}"
    return [_join(base + ["--nnodes", str(len(nodes)), "--node-rank", str(r), "--dist-init-addr", head])
            for r in range(len(nodes))]


def _sglang_url(inst: _Instance) -> str:
    return f"http://{_host(inst.nodes[0])}:{SGLANG_PORT + inst.local_gpu}"


def _sglang_router(mode: str, instances: list[_Instance]) -> list[str]:
    router = ["python", "-m", "sglang_router.launch_router"]
    if mode == "agg":
        router += ["--worker-urls", *map(_sglang_url, instances)]
    else:
        router += ["--pd-disaggregation"]
        for inst in instances:
            if inst.role == "prefill":
                router += ["--prefill", _sglang_url(inst), str(BOOTSTRAP_PORT + inst.local_gpu)]
            else:
                router += ["--decode", _sglang_url(inst)]
    return [f"# router (sglang-router {_version('router')}) on any host",
            _join(router + ["--host", "0.0.0.0", "--port", str(ROUTER_PORT)])]


def sglang_commands(model_id: str, mode: str, prefill: Pool, decode: Pool,
                    options: ServingOptions) -> str | list[str]:
    """SGLang servers (one line per node) and the router that spreads or pairs requests.

    One line when the deployment is one single-node instance; otherwise comment lines name each
    instance's GPUs and the router. Raises SpecError for what SGLang cannot express.
    """
    placed = _deployment(mode, prefill, decode, options.gpus_per_node)
    if len(placed) == 1 and len(placed[0][1].nodes) == 1:
        return _sglang_server(model_id, *placed[0], options)[0]
    lines = [f"# sglang {_version('sglang')}; {_hosts_note(options.gpus_per_node)}"]
    for pool, inst in placed:
        lines += [inst.comment(), *_sglang_server(model_id, pool, inst, options)]
    if len(placed) > 1:
        lines += _sglang_router(mode, [inst for _, inst in placed])
    return lines


# --------------------------------------------------------------------------- vLLM
def _vllm_parallel(s: Strategy, where: str) -> list[str]:
    group = s.dp * s.tp
    if s.ep > 1 and (s.ep, s.etp) != (group, 1):
        raise SpecError(where, f"ep={s.ep}, etp={s.etp}: vLLM 0.33.0's --enable-expert-parallel puts "
                        f"whole experts over all dp*tp={group} GPUs of a stage (ep={group}, etp=1); "
                        "it has no expert-TP inside EP and no expert copies")
    if s.ep == 1 and s.etp != group:
        raise SpecError(where, f"ep=1, etp={s.etp}: without expert parallelism vLLM 0.33.0 shards "
                        f"every expert over all dp*tp={group} GPUs of a stage; choose ep={group} "
                        f"(--enable-expert-parallel) or etp={group}")
    flags = ["--tensor-parallel-size", str(s.tp)]
    if s.dp > 1:
        flags += ["--data-parallel-size", str(s.dp)]
    if s.pp > 1:
        flags += ["--pipeline-parallel-size", str(s.pp)]
    if s.ep > 1:
        flags += ["--enable-expert-parallel"]
    return flags


def _vllm_features(pool: Pool, role: str, o: ServingOptions, where: str) -> list[str]:
    s = pool.strategy
    _check_common(s, o, where, "vLLM 0.33.0")
    if o.deepep and s.dp == 1:
        raise SpecError(where, f"a2a={o.a2a!r} with dp=1: vLLM 0.33.0 runs its all-to-all backends "
                        "only with data_parallel_size > 1 (TP+EP all-reduces instead)")
    if o.a2a == "deepep" and role == "agg":
        raise SpecError(where, "a2a='deepep' picks the DeepEP mode per phase; an aggregated vLLM "
                        "server needs one: a2a='deepep-normal' or 'deepep-low-latency'")
    if o.two_batch_overlap and (not o.deepep or s.pp > 1 or o.mtp_tokens):
        raise SpecError(where, "two_batch_overlap=True: vLLM 0.33.0's --enable-dbo needs a DeepEP "
                        "a2a (and so dp > 1), pp=1 and mtp_tokens=0 "
                        f"(got a2a={o.a2a!r}, pp={s.pp}, mtp_tokens={o.mtp_tokens})")
    flags = _vllm_parallel(s, where)
    if o.weight_dtype == "fp8":
        flags += ["--quantization", "fp8"]
    if o.kv_dtype == "fp8":
        flags += ["--kv-cache-dtype", "fp8"]
    flags += ["--max-model-len", str(o.max_model_len), "--max-num-seqs", str(pool.batch)]
    if o.chunked_prefill_tokens and role != "decode":
        flags += ["--max-num-batched-tokens", str(o.chunked_prefill_tokens)]
    if o.deepep:
        backend = {"normal": "deepep_high_throughput", "low_latency": "deepep_low_latency"}
        flags += ["--all2all-backend", backend[o.deepep_mode(role)]]
    if o.two_batch_overlap:
        flags += ["--enable-dbo"]
    if o.mtp_tokens:
        flags += ["--speculative-config", _json({"method": "mtp", "num_speculative_tokens": o.mtp_tokens})]
    if o.redundant_experts:
        flags += ["--enable-eplb", "--eplb-config", _json({"num_redundant_experts": o.redundant_experts})]
    if role != "agg":
        flags += ["--kv-transfer-config", _json({"kv_connector": "NixlConnector", "kv_role": "kv_both"})]
    return flags


def _vllm_server(model_id: str, pool: Pool, inst: _Instance, o: ServingOptions) -> list[str]:
    where = f"vLLM {inst.role} pool {pool.strategy.label}"
    flags = _vllm_features(pool, inst.role, o, where) + ["--port", str(VLLM_PORT + inst.local_gpu)]
    env = []
    if inst.colocated:
        gpus = range(inst.local_gpu, inst.local_gpu + inst.gpus)
        env.append("CUDA_VISIBLE_DEVICES=" + ",".join(map(str, gpus)))
    nodes = inst.nodes
    lines = []
    for r, node in enumerate(nodes):
        node_env = env + ([f"VLLM_NIXL_SIDE_CHANNEL_HOST={_host(node)}",
                           f"VLLM_NIXL_SIDE_CHANNEL_PORT={NIXL_PORT + inst.local_gpu}"]
                          if inst.role != "agg" else [])
        multi = []
        if len(nodes) > 1:
            multi = ["--nnodes", str(len(nodes)), "--node-rank", str(r), "--master-addr", _host(nodes[0])]
            multi += ["--headless"] if r else []
        lines.append(_join(node_env + ["vllm", "serve", model_id] + flags + multi))
    return lines


def _vllm_url(inst: _Instance) -> tuple[str, int]:
    return _host(inst.nodes[0]), VLLM_PORT + inst.local_gpu


def _vllm_front(mode: str, instances: list[_Instance]) -> list[str]:
    """Comment lines: vLLM 0.33.0 ships neither a prefill/decode proxy nor a load balancer."""
    if mode == "agg":
        urls = " ".join(f"http://{h}:{p}" for h, p in map(_vllm_url, instances))
        return [f"# vLLM {_version('vllm')} ships no load balancer for separate instances; put any "
                f"HTTP load balancer in front of: {urls}"]
    pre = [_vllm_url(i) for i in instances if i.role == "prefill"]
    dec = [_vllm_url(i) for i in instances if i.role == "decode"]
    proxy = ["python", "tests/v1/kv_connector/nixl_integration/toy_proxy_server.py",
             "--port", str(ROUTER_PORT),
             "--prefiller-hosts", *(h for h, _ in pre), "--prefiller-ports", *(str(p) for _, p in pre),
             "--decoder-hosts", *(h for h, _ in dec), "--decoder-ports", *(str(p) for _, p in dec)]
    return [f"# vLLM {_version('vllm')} ships no prefill/decode proxy (none in its wheel); the "
            "repository's NixlConnector test proxy pairs them (flags not in data/engines):",
            "# " + _join(proxy)]


def vllm_commands(model_id: str, mode: str, prefill: Pool, decode: Pool,
                  options: ServingOptions) -> str | list[str]:
    """vLLM servers (one line per node) and, as comments, what pairs or spreads requests.

    One line when the deployment is one single-node instance. Raises SpecError for what vLLM
    cannot express.
    """
    placed = _deployment(mode, prefill, decode, options.gpus_per_node)
    if len(placed) == 1 and len(placed[0][1].nodes) == 1:
        return _vllm_server(model_id, *placed[0], options)[0]
    lines = [f"# vllm {_version('vllm')}; {_hosts_note(options.gpus_per_node)}"]
    for pool, inst in placed:
        lines += [inst.comment(), *_vllm_server(model_id, pool, inst, options)]
    if len(placed) > 1:
        lines += _vllm_front(mode, [inst for _, inst in placed])
    return lines


def launch_commands(model_id: str, mode: str, prefill: Pool, decode: Pool, *,
                    gpus_per_node: int = 8, weight_dtype: str = "bf16", kv_dtype: str = "bf16",
                    max_model_len: int, chunked_prefill_tokens: int | None = None,
                    a2a: str = "allgather", two_batch_overlap: bool = False, mtp_tokens: int = 0,
                    redundant_experts: int = 0) -> dict[str, str | list[str]]:
    """{"vllm": ..., "sglang": ..., "checked_against": "<engine> <version> (<file>), ..."}.

    mode 'agg': prefill and decode are the same Pool (one deployment); 'disagg': the prefill pool on
    GPUs 0.., the decode pool after it, and what pairs them. Each engine's value is one command
    line, or a list of lines (comments start with '#') when there are several instances or nodes.
    chunked_prefill_tokens: prefill tokens per step per attention-DP rank (None: engine default);
    max_model_len in tokens. Raises SpecError when either engine cannot express the deployment;
    `vllm_commands` / `sglang_commands` build one engine's alone.
    """
    options = ServingOptions(max_model_len=max_model_len, gpus_per_node=gpus_per_node,
                             weight_dtype=weight_dtype, kv_dtype=kv_dtype,
                             chunked_prefill_tokens=chunked_prefill_tokens, a2a=a2a,
                             two_batch_overlap=two_batch_overlap, mtp_tokens=mtp_tokens,
                             redundant_experts=redundant_experts)
    return {"vllm": vllm_commands(model_id, mode, prefill, decode, options),
            "sglang": sglang_commands(model_id, mode, prefill, decode, options),
            "checked_against": checked_against()}


def checked_against() -> str:
    """The engine releases whose recorded flags every generated command is checked against."""
    return ", ".join(f"{_spec(s)['engine']} {_spec(s)['version']} (data/engines/{s}.yaml)"
                     for s in ENGINE_FILES.values())


def _hosts_note(gpn: int) -> str:
    return f"$NODEk_IP is the address of node k (GPUs {gpn}k to {gpn}k+{gpn - 1})"


def _json(value: dict) -> str:
    return json.dumps(value, separators=(",", ":"))


def _join(tokens: list[str]) -> str:
    """A shell line; $NODEk_IP stays expandable (double quotes), JSON stays single-quoted."""
    def quote(token: str) -> str:
        if "$" not in token:
            return shlex.quote(token)
        name, eq, value = token.partition("=") if _ENV.match(token) else ("", "", token)
        return f'{name}{eq}"{value}"'
    return " ".join(map(quote, tokens))


# --------------------------------------------------------------------------- checking
@cache
def _spec(stem: str) -> dict:
    """The recorded flag list data/engines/<stem>.yaml (read once; the files do not change)."""
    path = DATA_DIR / "engines" / f"{stem}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in (DATA_DIR / "engines").glob("*.yaml"))
        raise SpecError("check_flags", f"engine {stem!r} has no recorded flag list; use one of "
                        f"{', '.join(known)}")
    return read_yaml(path)


def _version(engine: str) -> str:
    return str(_spec(ENGINE_FILES[engine])["version"])



def _program(spec: dict) -> list[str]:
    """Leading tokens of the recorded launch line: 'vllm serve', 'python -m sglang.launch_server'."""
    out = []
    for token in spec["launch"].split():
        if token.startswith(("--", "[")) or token.isupper():
            break
        out.append(token)
    return out


def check_flags(command: str, engine: str) -> list[str]:
    """Flags of `command` that the recorded flag list of `engine` does not have ([] = all exist).

    engine: a file stem of data/engines ('vllm', 'sglang', 'sglang-router', 'vllm-0.11.0', ...).
    A value outside a flag's recorded choices is reported as '--flag=value'. Comment lines,
    environment assignments and positional arguments are skipped; vLLM's parser also takes
    underscores for dashes and '--flag.key=value'. Abbreviated flags (argparse prefixes) count as
    missing. Raises SpecError when a line runs another program.
    """
    spec = _spec(engine)
    primary = {alias: flag for flag, aliases in spec["aliases"].items() for alias in aliases}
    known = set(spec["flags"]) | set(primary) | {"--no-" + f[2:] for f in spec["negatable"]}
    program = _program(spec)
    bad: list[str] = []
    for line in command.replace("\\\n", " ").splitlines():
        tokens = shlex.split(line, comments=True)
        while tokens and _ENV.match(tokens[0]):
            tokens.pop(0)
        if not tokens:
            continue
        head = ["python" if t == "python3" else t for t in tokens[:len(program)]]
        if head != program:
            raise SpecError(f"check_flags({engine!r})", f"{line.strip()[:60]!r} does not run "
                            f"{' '.join(program)!r}, the recorded {spec['engine']} launcher")
        args = tokens[len(program):]
        for i, token in enumerate(args):
            if not token.startswith("--"):
                continue
            flag, _, value = token.partition("=")
            if spec["engine"] == "vllm":
                flag = flag.split(".")[0].replace("_", "-")
            if flag not in known:
                bad.append(flag)
                continue
            choices = spec["choices"].get(primary.get(flag, flag))
            if not value and i + 1 < len(args) and not args[i + 1].startswith("--"):
                value = args[i + 1]
            if choices and value and value not in map(str, choices):
                bad.append(f"{flag}={value}")
    return bad
