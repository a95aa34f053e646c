"""The deployment as a graph: one forward step, ops per pipeline stage, collectives with their GPUs.

Each pipeline stage shows one block per kind of layer it holds (a dense block where the model has
leading dense layers, an MoE block for the rest; the label says how many layers it stands for):

    attention projections (q, k, v) -> attention core -> output projection -> TP all-reduce
      -> router -> EP dispatch (all-to-all) -> routed experts -> EP combine (all-to-all) --+
      -> shared experts ------------------------------------------------------------------+
      -> TP all-reduce

as the cost model counts them (moekit.formulas.timing: two TP all-reduces per layer, dispatch and
combine per MoE layer, one send per stage boundary). Stage 0 starts with the embedding, the last
stage ends with the LM head, stages are joined by a PP send/recv. A collective of degree 1 is left
out. In aggregated mode the graph is one deployment (phase "mixed": a step mixes decode tokens and a
prefill chunk); disaggregated, the prefill pool's graph, a KV-cache transfer (prefill GPUs ->
decode GPUs, phase "decode" as it lands there), then the decode pool's graph on the GPUs after the
prefill pool's. A node's `gpus` are every GPU of its pool that runs it (all instances), and a
collective's `groups` are all its groups: TP and PP groups come from placement.collective_groups;
the all-to-all spans the ep x etp GPUs that hold one set of experts (the group the cost model's
ep_alltoall_time_s counts; placement's ep_alltoall groups when etp = 1).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch, Patch

from moekit.errors import SpecError
from moekit.plan.launch import Pool
from moekit.plan.placement import collective_groups, stage_layer_ranges
from moekit.spec.inputs import Model

KINDS = ("op", "collective", "transfer")
COLLECTIVES = ("all_reduce", "all_to_all", "send_recv")
COLORS = {"op": "#cfe2f3", "collective": "#fde9c4", "transfer": "#d9ead3"}


@dataclass(frozen=True)
class Node:
    """One op, collective or transfer of the step. GPUs are global ranks."""

    id: str
    kind: str  # op | collective | transfer
    label: str
    phase: str  # prefill | decode | mixed (aggregated)
    stage: int  # pipeline stage of its pool
    gpus: tuple[int, ...]
    collective: str = ""  # all_reduce | all_to_all | send_recv (collectives and the transfer)
    groups: tuple[tuple[int, ...], ...] = ()  # the transfer: (prefill GPUs, decode GPUs)
    inter_node: bool = False  # some group spans nodes
    bytes_per_request: float | None = None  # the KV transfer, when given (B)

    def describe(self) -> str:
        """Label, GPUs and groups on separate lines, as the DOT text and the figure show them."""
        lines = [self.label, f"GPUs {_span(self.gpus)}"]
        if self.kind == "collective":
            sizes = {len(g) for g in self.groups}
            size = sizes.pop() if len(sizes) == 1 else "mixed"
            lines.append(f"{self.collective}: {len(self.groups)} group(s) of {size}"
                         + (", inter-node" if self.inter_node else ""))
        if self.bytes_per_request is not None:
            lines.append(f"{self.bytes_per_request / 1e6:.3g} MB per request")
        return "\n".join(lines)


@dataclass(frozen=True)
class PoolView:
    """What the DOT clusters and the figure name a pool by."""

    phase: str
    strategy: str
    instances: int
    first_gpu: int
    gpus: int
    stage_layers: tuple[tuple[int, int], ...]  # (first, last) layer of each stage


@dataclass(frozen=True)
class Dag:
    """One forward step of a deployment: nodes in topological order and edges (src id, dst id)."""

    model: str
    mode: str
    gpus_per_node: int
    pools: tuple[PoolView, ...]
    nodes: tuple[Node, ...]
    edges: tuple[tuple[str, str], ...]

    def to_json(self) -> dict:
        out = asdict(self)
        out["edges"] = [{"src": a, "dst": b} for a, b in self.edges]
        return out

    @classmethod
    def from_json(cls, data: dict) -> Dag:
        nodes = tuple(Node(**{**n, "gpus": tuple(n["gpus"]),
                              "groups": tuple(tuple(g) for g in n["groups"])}) for n in data["nodes"])
        pools = tuple(PoolView(**{**p, "stage_layers": tuple(tuple(s) for s in p["stage_layers"])})
                      for p in data["pools"])
        return cls(data["model"], data["mode"], data["gpus_per_node"], pools, nodes,
                   tuple((e["src"], e["dst"]) for e in data["edges"]))

    def to_dot(self) -> str:
        """Graphviz DOT text: a cluster per pool, inside it one per pipeline stage."""
        lines = [f'digraph "{_esc(self.model)} {self.mode}" {{', "  rankdir=TB;",
                 '  node [fontname="Helvetica", fontsize=10, style=filled];']
        for pool in self.pools:
            lines.append(f'  subgraph "cluster_{pool.phase}" {{')
            lines.append(f'    label="{_esc(_pool_title(pool))}";')
            for stage, (first, last) in enumerate(pool.stage_layers):
                lines.append(f'    subgraph "cluster_{pool.phase}_s{stage}" {{')
                lines.append(f'      label="stage {stage}: layers {first}-{last}";')
                lines += [f"      {_dot_node(n)}" for n in self.nodes
                          if n.kind != "transfer" and n.phase == pool.phase and n.stage == stage]
                lines.append("    }")
            lines.append("  }")
        lines += [f"  {_dot_node(n)}" for n in self.nodes if n.kind == "transfer"]
        lines += [f'  "{a}" -> "{b}";' for a, b in self.edges]
        return "\n".join(lines + ["}"])

    def figure(self):
        """A matplotlib Figure: one column per pool, rows by depth (longest path), arrows for edges."""
        where = _layout(self)
        columns = max(2, max(x for x, _ in where.values()) + 1)  # room for titles and the legend
        depth = max(-y for _, y in where.values()) + 1
        fig = Figure(figsize=(3.2 * columns + 1, 0.72 * depth + 1.5))
        ax = fig.add_subplot()
        for node in self.nodes:
            x, y = where[node.id]
            ax.add_patch(FancyBboxPatch((x - 0.45, y - 0.3), 0.9, 0.6, boxstyle="round,pad=0.02",
                                        facecolor=COLORS[node.kind], linewidth=0.6,
                                        edgecolor="crimson" if node.inter_node else "grey"))
            ax.text(x, y, node.describe(), ha="center", va="center", fontsize=5.5)
        transfers = {n.id for n in self.nodes if n.kind == "transfer"}
        for a, b in self.edges:
            (xa, ya), (xb, yb) = where[a], where[b]
            if transfers & {a, b}:  # the KV transfer sits between the pools: side to side
                start, end = (xa + 0.45, ya), (xb - 0.45, yb)
            else:
                start, end = (xa, ya - 0.3), (xb, yb + 0.3)
            ax.annotate("", xy=end, xytext=start,
                        arrowprops={"arrowstyle": "->", "lw": 0.6, "color": "dimgrey"})
        for pool in self.pools:
            x = min(where[n.id][0] for n in self.nodes if n.phase == pool.phase and n.kind != "transfer")
            ax.text(x - 0.45, 0.6, _pool_title(pool), ha="left", va="bottom", fontsize=7,
                    fontweight="bold")
        ax.set_xlim(-0.6, columns - 0.4)
        ax.set_ylim(-depth + 0.4, 1.4)
        ax.axis("off")
        ax.set_title(f"{self.model}: one forward step ({self.mode})", fontsize=9)
        ax.legend(handles=[Patch(facecolor=c, label=k) for k, c in COLORS.items()]
                  + [Patch(facecolor="white", edgecolor="crimson", label="spans nodes")],
                  loc="upper right", fontsize=6)
        fig.tight_layout()
        return fig


def deployment_dag(model: Model, mode: str, prefill: Pool, decode: Pool, *, gpus_per_node: int = 8,
                   kv_bytes_per_request: float | None = None) -> Dag:
    """One forward step of the deployment as a Dag (see the module docstring).

    mode 'agg': prefill and decode are the same Pool; 'disagg': prefill pool on GPUs 0.., decode
    pool after it, joined by the KV transfer (kv_bytes_per_request in bytes, shown when given).
    """
    if mode not in ("agg", "disagg"):
        raise SpecError("deployment_dag", f"mode={mode!r}; use agg or disagg")
    if mode == "agg" and prefill != decode:
        raise SpecError("deployment_dag", "mode='agg' is one deployment; pass the same Pool twice")
    if isinstance(gpus_per_node, bool) or not isinstance(gpus_per_node, int) or gpus_per_node < 1:
        raise SpecError("deployment_dag", f"gpus_per_node={gpus_per_node!r} must be an integer >= 1")
    if kv_bytes_per_request is not None and not kv_bytes_per_request > 0:
        raise SpecError("deployment_dag", f"kv_bytes_per_request={kv_bytes_per_request!r} must be > 0")
    pools = [("mixed", prefill, 0)] if mode == "agg" else [("prefill", prefill, 0),
                                                           ("decode", decode, prefill.gpus)]
    nodes: list[Node] = []
    edges: list[tuple[str, str]] = []
    views = []
    for phase, pool, first_gpu in pools:
        pool.strategy.check_fits(model)
        graph = _PoolGraph(model, pool, phase, first_gpu, gpus_per_node)
        if nodes:  # disaggregated: the KV cache goes from the prefill GPUs to the decode GPUs
            src = tuple(range(prefill.gpus))
            dst = tuple(range(prefill.gpus, prefill.gpus + decode.gpus))
            transfer = Node("kv_transfer", "transfer", "KV-cache transfer", "decode", 0, src + dst,
                            "send_recv", (src, dst), _spans_nodes(src + dst, gpus_per_node),
                            kv_bytes_per_request)
            edges.append((nodes[-1].id, transfer.id))
            nodes.append(transfer)
            edges.append((transfer.id, graph.nodes[0].id))
        nodes += graph.nodes
        edges += graph.edges
        views.append(PoolView(phase, pool.strategy.label, pool.instances, first_gpu, pool.gpus,
                              tuple(stage_layer_ranges(model, pool.strategy.pp))))
    return Dag(model.name, mode, gpus_per_node, tuple(views), tuple(nodes), tuple(edges))


class _PoolGraph:
    """Builds one pool's nodes and edges, stage by stage; `frontier` is what the next op follows."""

    def __init__(self, model: Model, pool: Pool, phase: str, first_gpu: int, gpus_per_node: int):
        self.model, self.phase, self.gpn = model, phase, gpus_per_node
        s = self.s = pool.strategy
        self.offsets = [first_gpu + i * s.gpus for i in range(pool.instances)]
        self.groups = collective_groups(s)
        # one set of experts per (stage, edp rank): placement's split, etp fastest then ep
        self.expert_groups = np.arange(s.gpus).reshape(s.pp, s.edp, s.ep * s.etp).tolist()
        self.nodes: list[Node] = []
        self.edges: list[tuple[str, str]] = []
        self.frontier: list[str] = []
        for stage, (first, last) in enumerate(stage_layer_ranges(model, s.pp)):
            self._stage(stage, first, last)

    def _ranks(self, local: list[list[int]]) -> tuple[tuple[int, ...], ...]:
        """Instance-local rank groups as global GPU groups, for every instance of the pool."""
        return tuple(tuple(off + r for r in g) for off in self.offsets for g in local)

    def _stage_gpus(self, stage: int) -> tuple[int, ...]:
        width = self.s.dp * self.s.tp
        return tuple(off + r for off in self.offsets for r in range(stage * width, (stage + 1) * width))

    def _add(self, node: Node, after: list[str] | None = None) -> str:
        self.nodes.append(node)
        self.edges += [(src, node.id) for src in (self.frontier if after is None else after)]
        return node.id

    def _op(self, stage: int, name: str, label: str, after: list[str] | None = None) -> str:
        node = Node(f"{self.phase}.s{stage}.{name}", "op", label, self.phase, stage,
                    self._stage_gpus(stage))
        return self._add(node, after)

    def _collective(self, stage: int, name: str, label: str, kind: str, local: list[list[int]]) -> str:
        groups = self._ranks(local)
        gpus = tuple(sorted({r for g in groups for r in g}))
        inter = any(_spans_nodes(g, self.gpn) for g in groups)
        node = Node(f"{self.phase}.s{stage}.{name}", "collective", label, self.phase, stage, gpus,
                    kind, groups, inter)
        return self._add(node)

    def _stage_groups(self, name: str, stage: int) -> list[list[int]]:
        width = self.s.dp * self.s.tp
        return [g for g in self.groups[name] if stage * width <= g[0] < (stage + 1) * width]

    def _tp_allreduce(self, stage: int, name: str) -> None:
        if self.s.tp > 1:
            self.frontier = [self._collective(stage, name, "TP all-reduce", "all_reduce",
                                              self._stage_groups("tp_allreduce", stage))]

    def _attention(self, stage: int, block: str, layers: int) -> None:
        m, s = self.model, self.s
        kind = "MLA" if m.attention == "mla" else f"{m.attention.upper()} {m.num_kv_heads} KV heads"
        self.frontier = [self._op(stage, f"{block}.qkv", f"q, k, v projections ({kind}) x{layers}")]
        self.frontier = [self._op(stage, f"{block}.attn", f"attention core: {m.num_heads // s.tp} "
                                  f"heads per GPU x{layers}")]
        self.frontier = [self._op(stage, f"{block}.out", f"output projection x{layers}")]
        self._tp_allreduce(stage, f"{block}.tp_ar_attn")

    def _stage(self, stage: int, first: int, last: int) -> None:
        m, s = self.model, self.s
        if stage == 0:
            self.frontier = [self._op(0, "embed", f"embedding (vocab {m.vocab_size})")]
        dense = max(0, min(last + 1, m.num_dense_layers) - first)
        moe = last - first + 1 - dense
        if dense:
            self._attention(stage, "dense", dense)
            self.frontier = [self._op(stage, "dense.ffn", f"dense FFN (width {m.dense_ffn_dim}"
                                      f"{_share(s.tp)}) x{dense}")]
            self._tp_allreduce(stage, "dense.tp_ar_ffn")
        if moe:
            self._attention(stage, "moe", moe)
            joined = self.frontier
            self.frontier = [self._op(stage, "moe.router", f"router: top-{m.top_k} of "
                                      f"{m.num_experts} x{moe}")]
            exchange = s.ep * s.etp > 1
            local = self.expert_groups[stage]
            if exchange:
                self.frontier = [self._collective(stage, "moe.dispatch", "EP dispatch", "all_to_all",
                                                  local)]
            self.frontier = [self._op(stage, "moe.experts", f"routed experts: {m.num_experts // s.ep}"
                                      f" of {m.num_experts} per GPU{_share(s.etp)} x{moe}")]
            if exchange:
                self.frontier = [self._collective(stage, "moe.combine", "EP combine", "all_to_all",
                                                  local)]
            if m.num_shared_experts:
                shared = self._op(stage, "moe.shared", f"shared experts: {m.num_shared_experts}"
                                  f"{_share(s.tp)} x{moe}", after=joined)
                self.frontier = self.frontier + [shared]
            self._tp_allreduce(stage, "moe.tp_ar_ffn")
        if stage == s.pp - 1:
            self.frontier = [self._op(stage, "lm_head", f"LM head (vocab {m.vocab_size})")]
        else:
            pairs = [g[stage:stage + 2] for g in self.groups["pp_send_recv"]]
            self.frontier = [self._collective(stage, "pp_send", f"PP send stage {stage} -> "
                                              f"{stage + 1}", "send_recv", pairs)]


def _share(n: int) -> str:
    return f", 1/{n} of each" if n > 1 else ""


def _spans_nodes(gpus, gpus_per_node: int) -> bool:
    return len({g // gpus_per_node for g in gpus}) > 1


def _span(gpus) -> str:
    """'0-7, 16-23' for a sorted list of GPU ranks."""
    gpus = sorted(gpus)
    runs, start = [], gpus[0]
    for a, b in zip(gpus, gpus[1:] + [None], strict=True):
        if b != a + 1:
            runs.append(f"{start}" if start == a else f"{start}-{a}")
            start = b
    return ", ".join(runs)


def _pool_title(pool: PoolView) -> str:
    name = "aggregated" if pool.phase == "mixed" else pool.phase
    last = pool.first_gpu + pool.gpus - 1
    return f"{name} pool: {pool.strategy} x{pool.instances} on GPUs {pool.first_gpu}-{last}"


def _esc(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _dot_node(node: Node) -> str:
    shape = {"op": "box", "collective": "ellipse", "transfer": "hexagon"}[node.kind]
    border = ', color="crimson"' if node.inter_node else ""
    return (f'"{node.id}" [label="{_esc(node.describe())}", shape={shape}, '
            f'fillcolor="{COLORS[node.kind]}"{border}];')


def _layout(dag: Dag) -> dict[str, tuple[float, float]]:
    """(x, y) per node: pools side by side, depth (longest path within its pool) downwards.

    A layered layout of our own: networkx is not installed in .venv nor a dependency, and the
    graph is a chain with one side branch per MoE block, so depth alone places it.
    """
    depth: dict[str, int] = {}
    incoming: dict[str, list[str]] = {}
    for a, b in dag.edges:
        incoming.setdefault(b, []).append(a)
    pool_of = {n.id: n.kind if n.kind == "transfer" else n.phase for n in dag.nodes}
    for node in dag.nodes:  # topological order
        depth[node.id] = max((depth[a] + 1 for a in incoming.get(node.id, [])
                              if pool_of[a] == node.phase), default=0)
    column = {p.phase: 3 * i for i, p in enumerate(dag.pools)}  # a pool uses 2 columns at most
    where, used = {}, {}
    for node in dag.nodes:
        if node.kind == "transfer":
            continue
        key = (node.phase, depth[node.id])
        slot = used[key] = used.get(key, -1) + 1
        where[node.id] = (column[node.phase] + slot, -depth[node.id])
    for node in dag.nodes:
        if node.kind == "transfer":
            where[node.id] = (2.0, -max(depth.values()) / 2)
    return where
