"""Collectives per layer and per GPU: TP all-reduce, EP all-to-all, PP send/recv (alpha-beta).

A group inside one node (NVLink domain) uses the intra-node bandwidth and latency; a group
that spans nodes pays the inter-node ones for the traffic that leaves the node. Inside a node,
all-to-all and send/recv have their own alpha-beta (measured ones differ from the all-reduce's);
the spec gives them the intra-node figures unless measured.

Legend (code name, input symbol: meaning [unit]):
    a2a_bw             alltoall_bandwidth: intra-node all-to-all bandwidth per GPU per direction [B/s]
    a2a_conc           alltoall_concurrent: 1 when the expert dispatch sends to all peers at once (DeepEP:
                        one latency per all-to-all), 0 for one latency per peer [1]
    a2a_lat            alltoall_latency: latency of one intra-node all-to-all step [s]
    ar_one_shot        allreduce_one_shot: 1 when small TP all-reduces run as one shot (each GPU reads its
                        peers' buffers at once: one latency, the engines' custom all-reduce), 0 for NCCL's
                        ring (2(n-1) latencies) [1]
    b_a                activation_bytes: bytes per activation element [B]
    b_disp             dispatch_bytes: bytes per element of the tokens dispatched to the experts (the
                        combine returns activations) [B]
    bw_inter           inter_node_bandwidth: network (IB/RoCE) bandwidth per GPU per direction [B/s]
    bw_intra           intra_node_bandwidth: NVLink bandwidth per GPU per direction [B/s]
    d                  d_model: hidden size (residual stream width) [1]
    dp                 dp: data-parallel degree of attention (replicas of the dense part) [1]
    ep                 ep: expert-parallel degree (experts split over GPUs) [1]
    ep_mask            ep_masked: 1 when expert parallelism masks instead of dispatching: tokens all-gathered
                        over the expert group, outputs reduce-scattered (SGLang's and vLLM's EP without an
                        all-to-all backend) [1]
    etp                etp: tensor-parallel degree inside each expert [1]
    gpn                gpus_per_node: GPUs in one node (NVLink domain) [1]
    k                  top_k: experts each token is routed to [1]
    lat_inter          inter_node_latency: latency of one inter-node message [s]
    lat_intra          intra_node_latency: latency of one intra-node message [s]
    p2p_bw             p2p_bandwidth: intra-node send/recv bandwidth per direction [B/s]
    p2p_lat            p2p_latency: latency of one intra-node send/recv [s]
    pp                 pp: pipeline-parallel degree (layer stages) [1]
    tp                 tp: tensor-parallel degree (heads and FFN columns split) [1]
"""

import sympy as sp

from moekit.formulas.core import formula
from moekit.formulas.parallel import expert_group_tokens, tokens_per_rank
from moekit.formulas.symbols import (
    a2a_bw,
    a2a_conc,
    a2a_lat,
    ar_one_shot,
    b_a,
    b_disp,
    bw_inter,
    bw_intra,
    d,
    dp,
    ep,
    ep_mask,
    etp,
    gpn,
    k,
    lat_inter,
    lat_intra,
    p2p_bw,
    p2p_lat,
    pp,
    tp,
)

tp_link_bw = formula("tp_link_bandwidth", "B/s", "bandwidth of the TP group's links",
                     sp.Piecewise((bw_intra, tp <= gpn), (bw_inter, True)), latex=r"\beta_{tp}")
tp_link_lat = formula("tp_link_latency", "s", "latency of the TP group's links",
                      sp.Piecewise((lat_intra, tp <= gpn), (lat_inter, True)), latex=r"\alpha_{tp}")
tp_message = formula("tp_allreduce_message_bytes", "B",
                     "activations one TP all-reduce sums: the rank's tokens x d",
                     tokens_per_rank * d * b_a, latex="m_{tp}")
t_tp_ar = formula(
    "tp_allreduce_time_s", "s",
    "one all-reduce over tp GPUs: 2(n-1)/n of the message over the link; 2(n-1) latencies as a "
    "ring, one when the stack runs it one-shot",
    2 * (tp - 1) / tp * tp_message / tp_link_bw
    + sp.Min(tp - 1, 1) * (ar_one_shot + (1 - ar_one_shot) * 2 * (tp - 1)) * tp_link_lat,
    latex="t_{AR}")

ep_local_peers = formula(
    "ep_local_peers", "1", "EP ranks of one group inside a node (the GPU's own included)",
    sp.Min(ep, sp.Max(1, gpn / etp)), latex="n_{ep,node}")
expert_group_gpus = formula(
    "expert_group_gpus", "1", "GPUs that hold one full set of experts: ep ranks x etp shards",
    ep * etp, latex="n_{exp}")
expert_group_local_gpus = formula(
    "expert_group_local_gpus", "1", "GPUs of one expert group inside a node",
    sp.Min(expert_group_gpus, gpn), latex="n_{exp,node}")
ep_ranks_hit = formula(
    "ep_ranks_hit_per_token", "1",
    "distinct EP ranks a token's k experts live on (uniform routing): ep (1 - (1 - 1/ep)^k); a "
    "token goes once to each, as the engines' dispatch (DeepEP, fused MoE all-to-all) sends it",
    ep * (1 - (1 - 1 / ep) ** k), latex="n_{ep,hit}")
ep_message = formula(
    "ep_alltoall_message_bytes", "B",
    "one GPU's payload of one all-to-all: its 1/tp share of the rank's tokens, one copy per EP rank "
    "hit, to every etp shard there, at the mean of the dispatch's and the combine's bytes per element "
    "(the layer's two all-to-alls together move one of each)",
    tokens_per_rank / tp * ep_ranks_hit * d * etp * (b_disp + b_a) / 2, latex="m_{ep}")
ep_in_node = sp.Eq(expert_group_gpus, expert_group_local_gpus)  # the whole expert group in one node
ep_link_lat = formula("ep_link_latency", "s",
                      "latency of one EP message: intra-node all-to-all when the expert group fits a "
                      "node, else inter-node",
                      sp.Piecewise((a2a_lat, ep_in_node), (lat_inter, True)), latex=r"\alpha_{ep}")
t_ep_alltoall = formula(
    "ep_alltoall_only_time_s", "s",
    "one all-to-all over the ep x etp expert group (dispatch, or combine of partial outputs): "
    "(n-1)/n of the payload leaves the GPU, intra- and inter-node parts in parallel, one "
    "latency per peer (one in all when the stack sends to all peers at once, as DeepEP does); zero "
    "when experts are neither split (ep) nor sharded (etp)",
    sp.Max(ep_message * (expert_group_local_gpus - 1) / expert_group_gpus / a2a_bw,
           ep_message * (expert_group_gpus - expert_group_local_gpus) / expert_group_gpus / bw_inter)
    + (a2a_conc * sp.Min(expert_group_gpus - 1, 1) + (1 - a2a_conc) * (expert_group_gpus - 1))
    * ep_link_lat,
    latex="t_{A2A}^{a2a}")
ep_gather_message = formula(
    "ep_allgather_message_bytes", "B",
    "what one GPU of a masking stack receives in the token all-gather over its expert group (and "
    "sends in the reduce-scatter of the outputs): the group's tokens beyond its own rank's, d wide",
    sp.Max(expert_group_tokens - tokens_per_rank, 0) * d * b_a, latex="m_{ep}^{ag}")
t_ep_gather = formula(
    "ep_allgather_time_s", "s",
    "one all-gather (dispatch) or reduce-scatter (combine) of a masking stack: that message over the "
    "intra-node links, or the inter-node ones when the group spans nodes, one latency per peer "
    "rank; zero under TP attention, whose ranks already hold the tokens",
    ep_gather_message / sp.Piecewise((a2a_bw, ep_in_node), (bw_inter, True))
    + sp.Max(expert_group_tokens / sp.Max(tokens_per_rank, 1) - 1, 0) * ep_link_lat,
    latex="t_{A2A}^{ag}")
t_ep_a2a = formula(
    "ep_alltoall_time_s", "s",
    "one expert dispatch or combine: the all-gather / reduce-scatter of a masking stack, else the "
    "all-to-all",
    ep_mask * t_ep_gather + (1 - ep_mask) * t_ep_alltoall, latex="t_{A2A}")

pp_message = formula("pp_message_bytes", "B",
                     "activations one stage sends to the next, split over its tp ranks",
                     tokens_per_rank * d * b_a / tp, latex="m_{pp}")
t_pp = formula(
    "pp_send_time_s", "s", "one stage-to-stage send (inter-node unless the deployment fits a node)",
    sp.Piecewise((0, sp.Eq(pp, 1)),
                 (pp_message / p2p_bw + p2p_lat, dp * tp * pp <= gpn),
                 (pp_message / bw_inter + lat_inter, True)),
    latex="t_{PP}")
