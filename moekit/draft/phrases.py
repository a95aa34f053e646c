"""The curated phrase table: which quantity a number of a plan is, from the words around it.

Each `Quantity` names what a number is (its `label` becomes the claim's `quantity:`), the kinds of
unit it comes in, the phrases that identify it, and moekit's expression for it (`model`, `bound`),
written once per phase where prefill and decode differ. `classify` tries the table in order
(specific entries before general ones) against the words nearest the number first, then the
line's label, the whole line, the line it continues and the section headings: the first entry
whose phrase matches wins. A match is a guess from words, and the drafted scenario says so.

Roles: a `claim` is a number the plan asserts and the audit checks; an `input` is a number the
plan takes as given (layers, GPU memory, batch): it goes to `stated:` and into the model,
hardware and workload, and becomes a claim only where the plan derives it (shows arithmetic,
says "achieved", "expected"...) or restates it with another value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

PER_GPU = r"per[- ]?gpu|per device|each gpu|/gpu|gpu memory usage|per-gpu"


@dataclass(frozen=True)
class Quantity:
    key: str  # lower_snake_case; a drafted claim's id starts with it
    label: str  # what it is, as a scenario's `quantity:` reads
    kinds: tuple  # unit kinds: bytes, seconds, rate, flops, flop, bandwidth, percent, ratio, bare (a
    # number with no unit), count (any counted noun), count:<noun> (count:gpus, count:experts, ...)
    phrases: str  # regex (lower case) that identifies it
    model: object = ""  # moekit expression, or {"prefill": ..., "decode": ...}
    bound: object = None  # (expression or per-phase dict, 'lower' | 'upper')
    role: str = "claim"  # claim | input
    generic: str = ""  # weaker regex, tried only when no entry's `phrases` matches at any level
    requires: str = ""  # regex that must also match the line, its label, parent or (section=True) section
    requires_section: bool = False
    excludes: str = ""  # regex that must not match the number's own words or label
    exclude_line: bool = False  # apply `excludes` to the whole line too
    only: tuple = ()  # levels at which `phrases` may match (default: all)
    note: str = ""  # one sentence for the reader, written into the claim
    variants: tuple = ()  # (regex over the whole context, model) refinements, first match wins
    mistakes: tuple = ()  # (mistake names, expression) known mistakes to try on the claim
    unit: str = ""  # the unit of a bare number of this quantity ('dimensions')
    pattern: re.Pattern = field(init=False, repr=False, compare=False)
    generic_pattern: re.Pattern | None = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "pattern", re.compile(self.phrases))
        object.__setattr__(self, "generic_pattern", re.compile(self.generic) if self.generic else None)

    def accepts(self, kind: str, noun: str) -> bool:
        """Whether a number of this unit kind (and count noun) can be this quantity."""
        if kind == "count":
            if not noun:
                return "bare" in self.kinds
            return "count" in self.kinds or f"count:{noun}" in self.kinds
        return kind in self.kinds


def _phase(prefill: str, decode: str | None = None) -> dict:
    return {"prefill": prefill, "decode": decode if decode is not None else prefill}


_TIME = {"prefill": "ttft_s", "decode": "tpot_s"}
_THROUGHPUT = _phase("prefill_tokens_per_s_per_gpu", "decode_tokens_per_s_per_gpu")
_THROUGHPUT_BOUND = (
    _phase("prefill_tokens_per_s_per_gpu_upper_bound", "decode_tokens_per_s_per_gpu_upper_bound"),
    "upper",
)
_IMBALANCE = "{phase}_expert_imbalance"

Q = Quantity
QUANTITIES: tuple[Quantity, ...] = (
    # --- about another plan, a benchmark or training: recognised, not checked -----------------
    Q(
        "benchmark_throughput",
        "throughput another system reports",
        ("rate", "bare"),
        r"switch transformer|deepspeed|fairseq|megatron-lm|industry|benchmarks?\b"
        r"|similar (moe )?(deploy|config)",
        note="a figure of another system, which moekit cannot check without its model and hardware",
    ),
    Q(
        "training_memory",
        "gradient and optimizer memory per GPU",
        ("bytes",),
        r"gradients?|optimi[sz]er|master weights",
        model="0",
        note="inference keeps no gradients or optimizer states",
    ),
    Q(
        "gradient_accumulation",
        "gradient accumulation steps",
        ("count", "bare"),
        r"gradient[ _]accumulation",
        note="a training setting; inference has no gradients",
    ),
    Q(
        "checkpointing_saving",
        "activation memory saved by checkpointing",
        ("percent",),
        r"checkpointing",
        note="checkpointing saves memory for a backward pass, which inference does not have",
    ),
    Q("checkpoint_interval", "checkpoint interval", ("count", "bare"), r"checkpoint\w*|every \d+ iter"),
    Q("recovery_time", "recovery time", ("seconds",), r"recover"),
    Q("stated_increment", "stated increment", ("percent",), r"^\+ ", role="input", only=("words",)),
    Q("capacity_factor", "expert capacity factor", ("bare",), r"capacity[_ ]factor", role="input"),
    # --- parameters ------------------------------------------------------------------------
    Q(
        "active_params_reduction",
        "reduction in active parameters",
        ("ratio",),
        r"reduction in active|active param\w* reduction|fewer active|sparsity",
        model="total_params / active_params",
        note="attention, router and embeddings serve every token, so active parameters shrink less "
        "than the expert count",
    ),
    Q(
        "active_parameters",
        "active parameters per token",
        ("count:params",),
        r"activ\w* param|param\w* activ|active per token|activated\b|\bactive\b",
        model="active_params",
    ),
    Q(
        "total_parameters",
        "total parameters",
        ("count:params",),
        r"param|model size|\d+ ?b (moe|model|dense)|total size",
        model="total_params",
        generic=r".",
        excludes=r"activ|per gpu|per token",
    ),
    Q(
        "bytes_per_param",
        "bytes per parameter",
        ("bytes",),
        r"per param|bytes per|bytes/param|precision",
        role="input",
    ),
    # --- counts of the layout ----------------------------------------------------------------
    Q(
        "total_experts",
        "experts over all layers",
        ("count:experts", "bare"),
        r"total (experts|modules)|experts? (over|across|in) all layers|all layers|total number of experts",
        model="(num_layers - num_dense_layers) * num_experts",
    ),
    Q(
        "expert_shards_per_gpu",
        "expert shards per GPU",
        ("count:shards", "bare"),
        r"shards? per gpu|expert[- ]shards?",
        model="moe_layers_per_stage * num_experts / ep",
    ),
    Q(
        "group_size",
        "GPUs per parallel group",
        ("count:gpus",),
        r"^(tp|ep|dp|pp|tensor|expert) groups?$|degree",
        role="input",
        only=("words", "label"),
    ),
    Q(
        "experts_per_gpu",
        "experts per GPU per layer",
        ("count:experts", "bare"),
        r"experts?[ _]per[ _](gpu|device|rank)|experts? (on|for) each gpu"
        r"|each gpu (handles|holds|hosts) \d+ exp"
        r"|1 expert per|experts? per gpu",
        model="num_experts / ep",
        note="per MoE layer; each expert may be split further by expert tensor parallelism (etp)",
    ),
    Q(
        "gpus_per_expert_group",
        "GPUs per expert group",
        ("count:gpus", "bare"),
        r"gpus per expert group|gpus? (in|per) (each )?expert group|per expert group|gpus each",
        model="etp",
        requires=r"expert group",
        excludes=r"degree",
    ),
    Q(
        "gpus_per_dp_replica",
        "GPUs per DP replica",
        ("count:gpus", "bare"),
        r"dp[_ ]rank|per (dp|data[- ]parallel) (replica|group)|gpus? per replica|dp replica",
        model="gpus / dp",
        variants=(("<product>", "gpus * ep / dp"),),
    ),
    Q("rank_stride", "GPU rank stride", ("bare",), r"(tp|ep|pp|etp)[_ ]rank"),
    Q(
        "gpus_per_module",
        "GPUs per module",
        ("count:gpus", "bare"),
        r"gpus per (\w+[- ])?module",
        variants=((r"layer", "gpus / pp"), (r"expert", "etp")),
    ),
    Q(
        "gpus_per_stage",
        "GPUs in a pipeline stage",
        ("count:gpus",),
        r"(in|per) (a |each )?(pipeline )?stage|pipeline stage|stage \d|per stage",
        model="gpus / pp",
        note="attention and experts both run on every GPU of a stage",
        excludes=r"per node",
    ),
    Q(
        "gpus_per_node",
        "GPUs per node",
        ("count:gpus", "bare"),
        r"per (node|server)|gpus? per node",
        role="input",
    ),
    Q("nodes", "nodes of the deployment", ("count:nodes",), r"nodes?", model="gpus / gpus_per_node"),
    Q(
        "expert_groups",
        "expert groups",
        ("count:groups", "count:parts", "bare"),
        r"expert groups?|ep groups?",
        model="ep",
    ),
    Q(
        "module_parts",
        "parts the model is divided into",
        ("count:parts", "bare"),
        r"\bparts?\b|\bmodules?\b|divided into|module division|sub-modules",
        model="gpus",
        excludes=r"expert modules|layer modules|per module",
        note="moekit's layout holds one shard of each split part per GPU",
    ),
    Q("pipeline_stages", "pipeline stages", ("count:stages",), r"stages?", model="pp"),
    Q(
        "layers_per_pp_stage",
        "layers per pipeline stage",
        ("count:layers", "bare"),
        r"layers? per (pipeline |pp )?stage|layer distribution|layers? (in|on) (each|a) stage|per stage",
        model="layers_per_stage",
    ),
    Q(
        "gpu_count",
        "GPUs of the deployment",
        ("count:gpus", "bare"),
        r"total gpus|gpus? required|gpu count|number of gpus|num[_ ]gpus|world size|gpus? total|gpu budget"
        r"|gpu resources|gpu requirement|module division|gpu match|(fully )?utili[sz]es|hardware resources"
        r"|gpus? (the strategy )?uses?|gpus? used|deploy\w* .*(across|on) \d+ gpus|of the deployment"
        r"|gpus? match|gpu count check|scal\w+ across|across \d+ gpus|gpus? of the|\bstrategy\b",
        model="gpus",
        excludes=r"split across|experts? distributed across|tp groups?|ep groups?|per (\w+ )?group"
        r"|per node|per replica|per stage|gpu groups?|within \d+-gpu|degree",
        exclude_line=True,
    ),
    Q(
        "heads_per_gpu",
        "attention heads per GPU",
        ("count:heads", "bare"),
        r"heads? per gpu",
        model="num_heads / tp",
    ),
    Q(
        "hidden_per_gpu",
        "hidden dimension per GPU",
        ("count:dimensions", "bare"),
        r"per gpu",
        model="d_model / tp",
        requires=r"hidden|dimension",
        unit="dimensions",
    ),
    Q(
        "sequences_per_replica",
        "sequences per DP replica",
        ("count:sequences", "bare"),
        r"per (dp |data[- ]parallel )?replica|split into \d+ ?[×x*]|per data[- ]parallel|dp replica",
        model="batch / dp",
        variants=(("<product>", "batch * ep / dp"),),
    ),
    Q(
        "sequences_per_gpu",
        "sequences per GPU",
        ("count:sequences",),
        r"per gpu|per device|batch distribution|each gpu (serves|handles|holds|runs|gets)",
        model="seqs_per_rank",
        note="sequences of one micro-batch on one attention data-parallel rank",
        mistakes=((("batch_split_by_dp_only",), "batch / {doc_dp}"),),
    ),
    Q(
        "microbatch_size",
        "micro-batch size",
        ("count:sequences", "bare"),
        r"micro[- _]?batch[- _]?size",
        role="input",
    ),
    Q(
        "microbatches",
        "micro-batches",
        ("count", "bare"),
        r"micro[- _]?batches|num[_ ]?microbatches",
        role="input",
    ),
    Q(
        "batch",
        "sequences per step",
        ("count:sequences", "bare"),
        r"batch size|batch of|total[_ ]batch|global batch|effective batch|sequences per step|concurrent "
        r"(requests|sequences)|sequences? in flight|concurrency",
        model="batch",
        role="input",
        generic=r"\bbatch\b",
        excludes=r"micro|per gpu|per replica|per second|/s\b|communication|comm\b",
    ),
    Q(
        "seq_len",
        "prompt length",
        ("count:tokens", "bare"),
        r"sequence length|seq(uence)?[_ ]len|prompt (length|len|tokens)|input (length|tokens)|context length|"
        r"prefill length|\bisl\b|tokens? (each|per (sequence|prompt|request))",
        role="input",
        generic=r"tokens",
        excludes=r"output|generat|decode|per second|/s",
    ),
    Q(
        "output_len",
        "output length",
        ("count:tokens", "bare"),
        r"output (length|len|tokens)|generat\w* (length|tokens)|decode (length|tokens)|\bosl\b|max[_ ]new"
        r"|new tokens|tokens generated",
        role="input",
    ),
    Q(
        "num_kv_heads",
        "KV heads",
        ("count:heads", "bare"),
        r"kv heads|key[- ]value heads|num[_ ]kv|kv_heads",
        role="input",
    ),
    Q(
        "head_dim",
        "head dimension",
        ("count:dimensions", "bare"),
        r"dimensions? each|head[ _]dim|per head|dims? each",
        role="input",
        unit="dimensions",
    ),
    Q(
        "num_heads",
        "attention heads",
        ("count:heads", "bare"),
        r"attention heads|num[_ ]heads|\bmha\b|\bgqa\b",
        role="input",
        generic=r"heads?",
        excludes=r"kv|key[- ]value|per gpu",
    ),
    Q(
        "expert_ffn_dim",
        "expert hidden size",
        ("count", "bare"),
        r"moe hidden|expert hidden|expert (ffn|intermediate|capacity|size)|moe (intermediate|ffn)|"
        r"intermediate[_ ]size|ffn (hidden|dim)|expert_hidden",
        role="input",
        excludes=r"per gpu|factor",
    ),
    Q(
        "d_model",
        "hidden size",
        ("count", "bare"),
        r"token dimension|hidden (size|dim|dimension)|d[_ ]?model|model dimension|embedding (size|dim)|"
        r"hidden[_ ]size",
        role="input",
        generic=r"dimension",
        excludes=r"moe|expert|ffn|intermediate|per gpu|split",
        exclude_line=True,
    ),
    Q(
        "top_k",
        "experts per token",
        ("count:experts", "bare"),
        r"experts? (active|activated|selected|routed|used) per token|top[- _]?k|active experts|experts? per "
        r"token|experts? per tok",
        role="input",
    ),
    Q(
        "num_experts",
        "experts per layer",
        ("count:experts", "bare"),
        r"experts? per (moe )?layer|routed experts|num[_ ]experts|number of experts|experts? distributed|"
        r"expert modules",
        role="input",
        generic=r"\bexperts?\b",
        excludes=r"per gpu|per token|active",
    ),
    Q(
        "num_layers",
        "layers",
        ("count:layers", "bare"),
        r"\blayers?:|\d+-layer|depth|layer modules|num[_ ]layers",
        role="input",
        generic=r"layers?",
        excludes=r"per (pipeline |pp )?stage",
    ),
    Q("vocab_size", "vocabulary size", ("count", "bare"), r"vocab", role="input"),
    Q("degree", "parallel degree", ("count:way",), r".", role="input"),
    Q(
        "degree_setting",
        "parallel degree",
        ("bare",),
        r"parallel[ _]size|parallel degree|\bdegree\b",
        role="input",
    ),
    # --- memory --------------------------------------------------------------------------
    Q(
        "kv_cache_per_token",
        "KV cache per token (all layers)",
        ("bytes",),
        r"kv[- ]?cache per token|per token.*kv|kv.*per token",
        model="kv_cache_bytes_per_token",
    ),
    Q(
        "kv_cache_per_gpu",
        "KV-cache memory per GPU",
        ("bytes",),
        r"kv[- ]?cache|key[- ]value cache",
        model="kv_cache_bytes_per_gpu",
    ),
    Q(
        "comm_buffers_per_gpu",
        "communication buffer memory per GPU",
        ("bytes",),
        r"communication buffers?|dispatch buffers?|all-to-all buffers?|comm buffers?",
        model="dispatch_buffer_bytes_per_gpu",
    ),
    Q(
        "attention_weights_per_gpu",
        "attention weight memory per GPU",
        ("bytes",),
        r"attention weights?|attention (params|parameters)",
        model="attention_weight_bytes_per_gpu",
    ),
    Q(
        "expert_weights_per_gpu",
        "expert weight memory per GPU",
        ("bytes",),
        r"expert weights?|expert (params|parameters)|experts? memory",
        model="expert_weight_bytes_per_gpu",
    ),
    Q(
        "activations_per_gpu",
        "activation memory per GPU",
        ("bytes",),
        r"activations?",
        model="activation_bytes_per_gpu",
    ),
    Q(
        "framework_overhead",
        "framework overhead per GPU",
        ("bytes",),
        r"framework|runtime|reserved?|cuda context",
        generic=r"overhead",
        excludes=r"expert overhead|weight overhead",
        note="a runtime reserve is an input of the plan (a setting of the runtime), not a derived number",
    ),
    Q(
        "weights_total",
        "weight memory of the whole model",
        ("bytes",),
        r"total model memory|model memory|weights? (alone|total|in total|of the (whole )?model)|(whole|"
        r"entire|full) model|total weights?|memory requirements?|weight memory of the whole|params? [×x*] \d",
        model="total_params * weight_bytes",
        excludes=PER_GPU,
    ),
    Q(
        "weights_per_gpu",
        "weight memory per GPU",
        ("bytes",),
        r"weights?|model (params|parameters)|parameters?\b|weight memory|(expert|weight) overhead",
        model="weight_bytes_per_gpu",
        requires=PER_GPU + r"|\bgpu\b",
        mistakes=(
            (("divided_by_all_gpus",), "total_params * weight_bytes / gpus"),
            (("divided_by_all_gpus",), "{weights_total} / gpus"),
            (
                ("divided_by_all_gpus", "stated_size_ignores_architecture"),
                "{total_parameters} * weight_bytes / gpus",
            ),
            (("weights_divided_by_dp",), "{weights_total} / ({doc_tp} * {doc_dp})"),
            (
                ("weights_divided_by_dp", "stated_size_ignores_architecture"),
                "{total_parameters} * weight_bytes / ({doc_tp} * {doc_dp})",
            ),
        ),
    ),
    Q(
        "memory_free",
        "free memory per GPU",
        ("bytes",),
        r"headroom|free memory|remaining|spare|left over",
        model="memory_bytes - memory_bytes_per_gpu",
    ),
    Q(
        "gpu_memory",
        "GPU memory capacity",
        ("bytes",),
        r"(?<!per-)(?<!per )gpu memory|vram|hbm capacity|memory capacity|capacity|limit|single gpu memory|"
        r"\bhbm\b|device memory|within|^< \d|% of [\d.]+ ?[gt]i?b\b",
        role="input",
        excludes=r"memory per gpu|usage|\bused\b|utili",
    ),
    Q(
        "memory_per_gpu",
        "memory per GPU",
        ("bytes",),
        r"memory per gpu|memory (usage|used|footprint|distribution|load)|total (memory|usage)|per[- ]gpu "
        r"memory|memory usage",
        generic=r"\btotal\b|\bmemory\b|usage",
        model="memory_bytes_per_gpu",
        requires=PER_GPU + r"|memory",
        requires_section=True,
        mistakes=(
            (("weights_only_memory",), "weight_bytes_per_gpu"),
            (("divided_by_all_gpus", "weights_only_memory"), "total_params * weight_bytes / gpus"),
            (("divided_by_all_gpus", "weights_only_memory"), "{weights_total} / gpus"),
            (
                ("divided_by_all_gpus", "weights_only_memory", "stated_size_ignores_architecture"),
                "{total_parameters} * weight_bytes / gpus",
            ),
        ),
    ),
    # --- shares of memory and compute ----------------------------------------------------------
    Q(
        "memory_free_share",
        "free share of GPU memory",
        ("percent",),
        r"available\b|headroom|\bfree\b",
        model="1 - memory_fraction",
        excludes=r"\buses?\b|used|utili",
    ),
    Q(
        "attention_memory_share",
        "attention share of memory",
        ("percent",),
        r"attention",
        model="attention_weight_bytes_per_gpu / memory_bytes_per_gpu",
        requires=r"memory|\(mb\)|\(gb\)",
        requires_section=True,
        excludes=r"flops|compute|peak",
    ),
    Q(
        "expert_memory_share",
        "expert share of memory",
        ("percent",),
        r"expert",
        model="expert_weight_bytes_per_gpu / memory_bytes_per_gpu",
        requires=r"memory|\(mb\)|\(gb\)",
        requires_section=True,
        excludes=r"flops|compute|parallel efficiency|overhead|peak",
    ),
    Q(
        "activation_memory_share",
        "activation share of memory",
        ("percent",),
        r"activation",
        model="activation_bytes_per_gpu / memory_bytes_per_gpu",
        requires=r"memory|\(mb\)|\(gb\)",
        requires_section=True,
        excludes=r"flops|compute|checkpoint|reduc|peak",
    ),
    Q(
        "attention_compute_share",
        "attention share of peak",
        ("percent",),
        r"attention",
        model=_phase(
            "layers_per_stage * (prefill_attention_proj_flops_per_gpu + "
            "prefill_attention_core_flops_per_gpu) / ttft_s / peak_flops",
            "layers_per_stage * (decode_attention_proj_flops_per_gpu + "
            "decode_attention_core_flops_per_gpu) / tpot_s / peak_flops",
        ),
        requires=r"flops|compute|tflops|peak",
        requires_section=True,
    ),
    Q(
        "expert_compute_share",
        "expert share of peak",
        ("percent",),
        r"expert",
        model=_phase(
            "moe_layers_per_stage * prefill_experts_flops_per_gpu / ttft_s / peak_flops",
            "moe_layers_per_stage * decode_experts_flops_per_gpu / tpot_s / peak_flops",
        ),
        requires=r"flops|compute|tflops|peak",
        requires_section=True,
        excludes=r"parallel efficiency",
    ),
    Q(
        "gpu_utilization",
        "GPU utilization",
        ("percent",),
        r"gpu utili[sz]ation|gpu efficiency|gpu usage",
        note="'GPU utilization' (busy time, FLOP share?) is not defined by the plan; moekit's FLOP share "
        "of the prefill is ttft_flops_utilization",
    ),
    Q(
        "memory_utilization",
        "memory used over GPU capacity",
        ("percent",),
        r"memory utili[sz]ation|of (available )?(gpu )?memory|memory (usage|used|efficiency|load|check)|"
        r"of \d+(\.\d+)? ?[gmt]i?b|% memory|memory utilized",
        generic=r"utili[sz](ation|ed)|usage|\bused\b|memory",
        model="memory_fraction",
        requires=r"memory|\d ?[gmt]i?b\b|vram|\(mb\)|\(gb\)|\bmb\b|\bgb\b",
        excludes=r"bandwidth|compute|gpu utili|flops|gpu efficiency",
    ),
    # --- compute -----------------------------------------------------------------------------
    Q(
        "flops_per_token",
        "FLOPs per token",
        ("flop",),
        r"per token|flops? per tok",
        model=_phase("prefill_flops_per_token", "decode_flops_per_token"),
        mistakes=((("one_flop_per_mac", "dropped_s2_attention"), "active_params"),),
    ),
    Q(
        "peak_flops",
        "peak FLOP/s per GPU",
        ("flops",),
        r"computing power|peak|gpu compute|compute capability|compute power|single gpu|capacity|"
        r"dense (fp|bf)|fp16|bf16|fp8|% of [\d.]+ ?tflops",
        role="input",
        excludes=r"achieved|utili[sz]ed|sustained|\bused\b",
    ),
    Q(
        "attention_flops_rate",
        "attention compute rate per GPU",
        ("flops",),
        r"attention",
        model=_phase(
            "layers_per_stage * (prefill_attention_proj_flops_per_gpu + "
            "prefill_attention_core_flops_per_gpu) / ttft_s",
            "layers_per_stage * (decode_attention_proj_flops_per_gpu + "
            "decode_attention_core_flops_per_gpu) / tpot_s",
        ),
        bound=("peak_flops", "upper"),
    ),
    Q(
        "expert_flops_rate",
        "expert compute rate per GPU",
        ("flops",),
        r"expert|moe",
        model=_phase(
            "moe_layers_per_stage * prefill_experts_flops_per_gpu / ttft_s",
            "moe_layers_per_stage * decode_experts_flops_per_gpu / tpot_s",
        ),
        bound=("peak_flops", "upper"),
    ),
    Q(
        "compute_rate",
        "compute rate per GPU",
        ("flops",),
        r"achieved|utili[sz]ed|sustained|total|used",
        generic=r".",
        model=_phase("prefill_step_flops_total / gpus / ttft_s", "decode_step_flops_total / gpus / tpot_s"),
        bound=("peak_flops", "upper"),
    ),
    Q("mfu", "MFU", ("percent",), r"\bmfu\b|model flops utili[sz]ation", role="input"),
    Q(
        "hbm_utilization",
        "bandwidth utilization",
        ("percent",),
        r"bandwidth utili[sz]ation|hbm utili[sz]ation|bandwidth.*utili|utili[sz]ation.*bandwidth|"
        r"memory bandwidth",
        role="input",
    ),
    Q(
        "compute_utilization",
        "achieved share of peak FLOP/s",
        ("percent",),
        r"compute utili[sz]ation|flops utili[sz]ation|of (peak|\d+ ?tflops)|compute efficiency|share of peak"
        r"|of peak|utili[sz]ation of peak|% compute",
        generic=r"\bcompute\b|tflops|flops|utili[sz]ation",
        model=_phase("ttft_flops_utilization", "decode_step_flops_total / gpus / tpot_s / peak_flops"),
        excludes=r"memory|bandwidth|gpu utili|variance",
    ),
    # --- bandwidths --------------------------------------------------------------------------
    Q(
        "effective_bandwidth",
        "effective HBM bandwidth",
        ("bandwidth",),
        r"effective bandwidth|achieved bandwidth|sustained bandwidth|effective",
        model="hbm_bandwidth * hbm_utilization",
    ),
    Q(
        "intra_node_bandwidth",
        "intra-node link bandwidth",
        ("bandwidth",),
        r"nvlink|intra[- ]node|nvswitch",
        role="input",
    ),
    Q(
        "inter_node_bandwidth",
        "inter-node link bandwidth",
        ("bandwidth",),
        r"infiniband|\bib\b|inter[- ]node|network|roce|ethernet",
        role="input",
    ),
    Q("pcie_bandwidth", "PCIe bandwidth", ("bandwidth",), r"pcie", role="input"),
    Q(
        "hbm_bandwidth",
        "HBM bandwidth",
        ("bandwidth",),
        r"vram|memory bandwidth|\bhbm\b",
        role="input",
        generic=r"bandwidth|tbps|tb/s",
    ),
    # --- time ----------------------------------------------------------------------------------
    Q(
        "ttft",
        "time to first token",
        ("seconds",),
        r"ttft|time to first token|first[- ]token|prefill latency|time-to-first-token",
        model="ttft_s",
        bound=("ttft_lower_bound_s", "lower"),
    ),
    Q(
        "tpot",
        "time per output token",
        ("seconds",),
        r"tpot|time per output token|inter[- ]token|\bitl\b|per[- ]token latency|decode (latency|step)|"
        r"token latency",
        model="tpot_s",
        bound=("tpot_lower_bound_s", "lower"),
    ),
    Q(
        "request_latency",
        "end-to-end request latency",
        ("seconds",),
        r"end[- ]to[- ]end|request latency|\be2e\b",
        model="request_latency_s",
    ),
    Q(
        "allreduce_time",
        "TP all-reduce time",
        ("seconds",),
        r"all[- ]?reduce",
        model=_phase("prefill_tp_allreduce_time_s", "decode_tp_allreduce_time_s"),
    ),
    Q(
        "alltoall_time",
        "EP all-to-all time",
        ("seconds",),
        r"all[- ]?to[- ]?all|dispatch|combine",
        model=_phase("prefill_ep_alltoall_time_s", "decode_ep_alltoall_time_s"),
    ),
    Q(
        "p2p_time",
        "PP send time",
        ("seconds",),
        r"send/recv|point[- ]to[- ]point|p2p|pipeline send",
        model=_phase("prefill_pp_send_time_s", "decode_pp_send_time_s"),
    ),
    Q(
        "comm_time",
        "communication time",
        ("seconds",),
        r"communication|\bcomm\b|collectives?",
        model=_phase("prefill_stage_comm_time_s", "decode_stage_comm_time_s"),
        note="moekit's figure is the collectives of one micro-batch on the busiest stage",
    ),
    Q(
        "attention_time",
        "attention compute time per layer",
        ("seconds",),
        r"attention",
        model=_phase(
            "prefill_attention_proj_time_s + prefill_attention_core_time_s",
            "decode_attention_proj_time_s + decode_attention_core_time_s",
        ),
    ),
    Q(
        "expert_time",
        "expert compute time per layer",
        ("seconds",),
        r"expert|moe ffn|moe compute",
        model=_phase("prefill_experts_time_s", "decode_experts_time_s"),
    ),
    Q(
        "stage_time",
        "compute time per pipeline stage",
        ("seconds",),
        r"per (pipeline )?stage|stage time|layers per stage",
        model=_phase("prefill_stage_time_s", "decode_stage_time_s"),
    ),
    Q(
        "layer_time",
        "compute time per layer",
        ("seconds",),
        r"per[- ]layer|per layer|layer latency|latency of one layer|one layer",
        model=_phase("prefill_moe_layer_time_s", "decode_moe_layer_time_s"),
    ),
    Q(
        "batch_time",
        "time to process the batch",
        ("seconds",),
        r"batch processing time|time to process the batch|per batch|batch time|step time|iteration time",
        model=_TIME,
    ),
    Q(
        "latency",
        "latency of the batch",
        ("seconds",),
        r"latency|forward pass|\btime\b|takes|duration",
        model=_TIME,
        note="a latency of a prefill-only plan is read as its TTFT, of a serving plan as its TPOT",
    ),
    # --- rates ---------------------------------------------------------------------------------
    Q(
        "throughput_per_user",
        "tokens per second per user",
        ("rate",),
        r"per user|per request|per sequence|/user|interactivity",
        model="1 / tpot_s",
    ),
    Q(
        "throughput_per_node",
        "throughput per node",
        ("rate",),
        r"per node|per server",
        model=_phase(
            "prefill_tokens_per_s_per_gpu * gpus_per_node", "decode_tokens_per_s_per_gpu * gpus_per_node"
        ),
    ),
    Q(
        "sequences_per_second",
        "sequences per second",
        ("rate",),
        r"sequences per second|requests per second|\bqps\b|\brps\b|sequences/s",
        model=_phase("batch / ttft_s", "batch / request_latency_s"),
    ),
    Q(
        "throughput_per_gpu",
        "throughput per GPU",
        ("rate",),
        r"per[- ]?gpu|per-gpu|/gpu",
        model=_THROUGHPUT,
        bound=_THROUGHPUT_BOUND,
        generic=r"tokens?/ms|tok/ms",
    ),
    Q(
        "throughput_total",
        "throughput of the deployment",
        ("rate",),
        r"total throughput|throughput of the deployment|aggregate|cluster|system throughput|"
        r"tokens per second|"
        r"of the deployment|overall|in total|\btotal\b",
        model=_phase("prefill_tokens_per_s_per_gpu * gpus", "decode_tokens_per_s_per_gpu * gpus"),
        excludes=PER_GPU,
        generic=r".",
    ),
    # --- shares of time, balance, ratios -------------------------------------------------------
    Q("overlap_gain", "gain from communication overlap", ("percent",), r"overlap"),
    Q(
        "comm_saved",
        "communication saved by batching",
        ("percent",),
        r"batched operations|batching|saved by batch|communication (saved|reduction)"
        r"|reduces? .*communication",
    ),
    Q(
        "comm_share",
        "communication share of time",
        ("percent",),
        r"communication|\bcomm\b|share of (time|latency)|of total time|all[- ]to[- ]all",
        model=_phase("prefill_comm_fraction", "decode_comm_fraction"),
        note="moekit's stage time with no overlap of communication and compute",
    ),
    Q(
        "pipeline_overhead",
        "pipeline overhead",
        ("percent",),
        r"pipeline (overhead|bubble|idle)|bubble",
        model="pipeline_bubble",
    ),
    Q(
        "load_balance_sigma",
        "load balance standard deviation",
        ("bare", "percent"),
        r"σ|sigma|standard deviation|\bstd\b",
    ),
    Q(
        "load_imbalance",
        "expert load imbalance (busiest / mean - 1)",
        ("percent", "bare", "ratio"),
        r"imbalance|variance|load (spread|skew)|\bskew",
        model=f"{_IMBALANCE} - 1",
        excludes=r"memory variance|communication|compute variance",
        note="the router decides at run time which expert a token goes to; uniform top-k routing, a best "
        "case for a learned router, still loads the busiest expert GPU above the mean",
    ),
    Q("variance", "variance across GPUs", ("percent", "bare"), r"variance"),
    Q(
        "load_balance",
        "load balance (mean / busiest expert load)",
        ("percent", "bare"),
        r"load balanc|\bbalance\b|expert[- ]parallel efficiency|ep efficiency",
        model=f"1 / {_IMBALANCE}",
        note="uniform top-k routing is moekit's figure; a learned router is rarely better balanced",
    ),
    Q(
        "requirement_margin",
        "requirement over achieved value",
        ("ratio",),
        r"requirement|better than|exceeds|margin",
    ),
    Q(
        "latency_reduction",
        "latency reduction",
        ("ratio",),
        r"latency|faster|speed-?up",
        note="no baseline is named; pipeline parallelism does not shorten one batch's latency",
    ),
    Q("throughput_increase", "throughput increase", ("ratio",), r"throughput|capacity"),
)

BY_KEY = {q.key: q for q in QUANTITIES}
LEVELS = ("words", "label", "segment", "line", "parent", "section")

#: words that make a restated input a claim: the plan reports it, it does not take it as given
CLAIM_CUES = re.compile(
    r"achiev|expected|estimat|optimi[sz]ed|projected|can reach|result|effective|average|"
    r"theoretical|actual|measured|resulting|overall"
)
#: words that make a number a requirement (a target), not a claim
TARGET_CUES = re.compile(
    r"requirement|required|\btarget|\bsla\b|\bslo\b|\bgoal|must be|at most|at least|"
    r"constraint|budget|need(s|ed)? to|≤|≥"
)
#: words that put a number in another plan (the initial strategy, a baseline)
OTHER_PLAN = re.compile(
    r"(initial|previous|original|old|baseline|current) (strategy|plan|approach|config\w*) "
    r"(has|had|shows|showed|was|is|gave|gives)|current issues|baseline|before optimi"
)
#: quantities a requirement can set: key -> Targets field ('' where Targets has none)
TARGET_FIELDS = {
    "ttft": "ttft_s",
    "latency": "ttft_s",
    "batch_time": "ttft_s",
    "tpot": "tpot_s",
    "request_latency": "request_latency_s",
    "throughput_per_gpu": "min_{phase}_tokens_per_s_per_gpu",
    "load_balance": "min_load_balance",
    "throughput_total": "",
    "comm_share": "",
    "memory_utilization": "",
    "memory_per_gpu": "",
    "gpu_utilization": "",
    "compute_utilization": "",
    "throughput_per_user": "",
}


@dataclass(frozen=True)
class Context:
    """The words around one number, nearest first, lower case."""

    words: str  # the number's own words: the few before it and after its unit, up to punctuation
    label: str = ""  # the line's label ('Memory Per GPU' of 'Memory Per GPU: 29.3MB'), or row + column
    segment: str = ""  # the text between this number's neighbours
    line: str = ""  # the whole line, where it holds no other number
    parent: str = ""  # the line this one continues
    section: str = ""

    def levels(self) -> tuple:
        return tuple((name, getattr(self, name)) for name in LEVELS)

    @property
    def own(self) -> str:
        return f"{self.words} | {self.label}"


def _usable(q: Quantity, context: Context, around: str, line: str) -> bool:
    if q.excludes and re.search(q.excludes, context.own + (f" | {line}" if q.exclude_line else "")):
        return False
    return not q.requires or bool(
        re.search(q.requires, around + (f" | {context.section}" if q.requires_section else ""))
    )


def classify(kind: str, noun: str, context: Context, line: str = "") -> tuple[Quantity, str] | None:
    """(quantity, level it matched at) for a number of this unit kind in this context, or None.

    Two passes: each entry's own phrases across every level (nearest first), then the generic ones.
    """
    candidates = [q for q in QUANTITIES if q.accepts(kind, noun)]
    line = line or context.line
    around = f"{context.own} | {context.segment} | {line} | {context.parent}"
    for attribute in ("pattern", "generic_pattern"):
        for level, text in context.levels():
            if not text:
                continue
            if attribute == "generic_pattern" and level in ("parent", "section"):
                continue  # a generic word that far away says little
            for q in candidates:
                pattern = getattr(q, attribute)
                if pattern is None or (q.only and level not in q.only) or not pattern.search(text):
                    continue
                if _usable(q, context, around, line):
                    return q, level
    return None


def classify_label(label: str, unit: str) -> Quantity | None:
    """The quantity of a scenario's own `quantity:` label (e.g. 'weight memory per GPU') and unit."""
    from moekit.draft.numbers import kind_of

    kind = kind_of(unit)
    noun = {
        "GPUs": "gpus",
        "GPU": "gpus",
        "experts": "experts",
        "expert shards": "shards",
        "layers": "layers",
        "sequences": "sequences",
        "heads": "heads",
        "tokens": "tokens",
        "nodes": "nodes",
        "parts": "parts",
        "modules": "parts",
        "stages": "stages",
        "dimensions": "dimensions",
        "steps": "steps",
        "B parameters": "params",
        "params": "params",
        "parameters": "params",
        "B params": "params",
        "M params": "params",
    }.get(unit, "")
    found = classify(kind, noun, Context(words=label.lower()))
    return found[0] if found else None


def model_for(q: Quantity, phase: str, convention: str, context_text: str) -> str:
    """The moekit expression suggested for `q` in `phase` and strategy `convention`."""
    for regex, model in q.variants:
        if (regex == "<product>" and convention == "product") or (
            regex != "<product>" and re.search(regex, context_text)
        ):
            return model
    model = q.model[phase] if isinstance(q.model, dict) else q.model
    return model.replace("{phase}", phase)


def bound_for(q: Quantity, phase: str) -> tuple[str, str] | None:
    if q.bound is None:
        return None
    expr, kind = q.bound
    return (expr[phase] if isinstance(expr, dict) else expr), kind
