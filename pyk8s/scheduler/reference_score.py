"""Plain-Python twins of the Score kernels (csrc/sched/score.cpp): each returns one
normalized 0..100 score per feasible node, with upstream's integer and float64 steps."""

from __future__ import annotations

import math

from ._objects import HOSTNAME_KEY

MAX_NODE_SCORE = 100
MB = 1024 * 1024
MIN_THRESHOLD = 23 * MB
MAX_CONTAINER_THRESHOLD = 1000 * MB


def go_round(x: float) -> int:
    """math.Round for the non-negative values scored here (half away from zero)."""
    floor = math.floor(x)
    return int(floor + 1 if x - floor >= 0.5 else floor)


def default_normalize(scores: list, reverse: bool) -> list:
    max_count = max(scores, default=0)
    if max_count <= 0:
        return [MAX_NODE_SCORE] * len(scores) if reverse else list(scores)
    out = []
    for s in scores:
        s = MAX_NODE_SCORE * s // max_count if s >= 0 else -((-MAX_NODE_SCORE * s) // max_count)
        out.append(MAX_NODE_SCORE - s if reverse else s)
    return out


def pod_request(pod, resource, nonzero):
    if nonzero and resource == "cpu":
        return pod.nonzero_cpu
    if nonzero and resource == "memory":
        return pod.nonzero_memory
    return pod.requests.get(resource, 0)


def resource_pair(cluster, pod, node, resource, nonzero=True):
    """(allocatable, requested with this pod) or None when the resource is left out.
    nonzero: NodeResourcesFit's non-zero requests; BalancedAllocation uses the requests."""
    wanted = pod_request(pod, resource, nonzero)
    if resource not in ("cpu", "memory", "ephemeral-storage") and wanted == 0:
        return None
    alloc = node.allocatable.get(resource, 0)
    req = sum(pod_request(p, resource, nonzero and resource in ("cpu", "memory")) for p in cluster.node_pods(node.name)) + wanted
    return None if alloc == 0 else (alloc, req)


def broken_linear(shape, p: int) -> int:
    for i, (utilization, score) in enumerate(shape):
        if p <= utilization:
            if i == 0:
                return shape[0][1]
            u0, s0 = shape[i - 1]
            # Go's integer division truncates toward zero.
            num = (score - s0) * (p - u0)
            den = utilization - u0
            q = abs(num) // den
            return s0 + (q if num >= 0 else -q)
    return shape[-1][1]


def score_fit(cluster, pod, nodes, k) -> list:
    out = []
    strategy = k["fit_strategy"]
    for node in nodes:
        node_score = weight_sum = 0
        for resource, weight in k["fit_resources"]:
            pair = resource_pair(cluster, pod, node, resource)
            if pair is None:
                continue
            alloc, req = pair
            if strategy == "LeastAllocated":
                s = 0 if req > alloc else (alloc - req) * MAX_NODE_SCORE // alloc
            elif strategy == "MostAllocated":
                s = min(req, alloc) * MAX_NODE_SCORE // alloc
            else:
                s = broken_linear(k["shape"], 100 if req > alloc else req * 100 // alloc)
                if s <= 0:
                    continue
            node_score += s * weight
            weight_sum += weight
        if weight_sum == 0:
            out.append(0)
        elif strategy == "RequestedToCapacityRatio":
            out.append(go_round(node_score / weight_sum))
        else:
            out.append(node_score // weight_sum)
    return out


def score_balanced(cluster, pod, nodes, k) -> list:
    if all(pod_request(pod, r, False) == 0 for r, _ in k["balanced_resources"]):
        return [0] * len(nodes)  # PreScore Skip: a best-effort pod
    out = []
    for node in nodes:
        fractions = []
        for resource, _weight in k["balanced_resources"]:
            pair = resource_pair(cluster, pod, node, resource, nonzero=False)
            if pair is not None:
                fractions.append(min(float(pair[1]) / float(pair[0]), 1.0))
        std = 0.0
        if len(fractions) == 2:
            std = abs((fractions[0] - fractions[1]) / 2)
        elif len(fractions) > 2:
            mean = _sum_fractions(fractions) / len(fractions)
            total = 0.0
            for f in fractions:
                total = total + (f - mean) * (f - mean)
            std = math.sqrt(total / len(fractions))
        out.append(int((1 - std) * MAX_NODE_SCORE))
    return out


def _sum_fractions(fractions):  # float addition in the kernel's order
    total = 0.0
    for f in fractions:
        total += f
    return total


def score_taints(cluster, pod, nodes, k) -> list:
    from .reference import tolerates

    prefer = [t for t in pod.tolerations if t[3] in ("", "PreferNoSchedule")]
    counts = [sum(1 for taint in node.taints if taint[2] == "PreferNoSchedule" and not any(tolerates(t, taint) for t in prefer))
              for node in nodes]
    return default_normalize(counts, reverse=True)


def score_node_affinity(cluster, pod, nodes, k) -> list:
    from .reference import node_term_matches

    if not pod.preferred_node_terms:
        return [0] * len(nodes)
    sums = [sum(w for w, term in pod.preferred_node_terms if node_term_matches(term, node)) for node in nodes]
    return default_normalize(sums, reverse=False)


def score_image_locality(cluster, pod, nodes, k) -> list:
    total_nodes = len(cluster.nodes)
    spread_count: dict[str, int] = {}
    for node in cluster.nodes.values():
        for name in {n for n, _ in node.images}:
            spread_count[name] = spread_count.get(name, 0) + 1
    max_threshold = MAX_CONTAINER_THRESHOLD * pod.num_containers
    out = []
    for node in nodes:
        sizes = dict(node.images)
        total = 0
        for image in pod.images:
            if image in sizes:
                total += int(float(sizes[image]) * (spread_count[image] / total_nodes))
        total = min(max(total, MIN_THRESHOLD), max_threshold) if total >= MIN_THRESHOLD else MIN_THRESHOLD
        out.append(0 if max_threshold == MIN_THRESHOLD else MAX_NODE_SCORE * (total - MIN_THRESHOLD) // (max_threshold - MIN_THRESHOLD))
    return out


def score_spread(cluster, pod, nodes, k) -> list:
    constraints = [c for c in pod.spread_constraints if c[2] == "ScheduleAnyway"]
    if not constraints:
        return [0] * len(nodes)
    require_all = pod.require_all_topologies
    ignored = [require_all and any(c[1] not in n.labels for c in constraints) for n in nodes]
    counts = [{} for _ in constraints]
    for node, skip in zip(nodes, ignored):
        if skip:
            continue
        for i, c in enumerate(constraints):
            if c[1] != HOSTNAME_KEY:
                counts[i].setdefault(node.labels.get(c[1], ""), 0)  # a missing key reads as ""
    weights = []
    for i, c in enumerate(constraints):
        size = len(nodes) - sum(ignored) if c[1] == HOSTNAME_KEY else len(counts[i])
        weights.append(math.log(float(size + 2)))
    for node in cluster.nodes.values():
        if require_all and any(c[1] not in node.labels for c in constraints):
            continue
        for i, c in enumerate(constraints):
            if not cluster.spread_eligible(pod, c, node):
                continue
            value = node.labels.get(c[1], "")
            if value in counts[i]:
                counts[i][value] += cluster.count_matching(c[3], pod.namespace, node.name)
    raw = []
    for node, skip in zip(nodes, ignored):
        if skip:
            raw.append(None)
            continue
        score = 0.0
        for i, c in enumerate(constraints):
            if c[1] not in node.labels:
                continue
            count = cluster.count_matching(c[3], pod.namespace, node.name) if c[1] == HOSTNAME_KEY else counts[i][node.labels[c[1]]]
            score += float(count) * weights[i] + float(c[0] - 1)
        raw.append(go_round(score))
    valid = [s for s in raw if s is not None]
    min_score, max_score = min(valid, default=0), max(valid + [0])
    out = []
    for s in raw:
        if s is None:
            out.append(0)
        elif max_score == 0:
            out.append(MAX_NODE_SCORE)
        else:
            out.append(MAX_NODE_SCORE * (max_score + min_score - s) // max_score)
    return out


def score_inter_pod(cluster, pod, nodes, k) -> list:
    has_constraints = bool(pod.preferred_affinity or pod.preferred_anti_affinity)
    if k["ignore_preferred_terms_of_existing_pods"] and not has_constraints:
        return [0] * len(nodes)
    topology: dict[tuple, int] = {}

    def process(term, target, labels, weight):
        if cluster.term_matches(term, target) and term[3] in labels:
            pair = (term[3], labels[term[3]])
            topology[pair] = topology.get(pair, 0) + weight

    hard = k["hard_pod_affinity_weight"]
    for node in cluster.nodes.values():
        if not node.labels:
            continue
        for existing in cluster.node_pods(node.name):
            if not has_constraints and not existing.has_affinity():
                continue
            for t in pod.preferred_affinity:
                process(t, existing, node.labels, t[4])
            for t in pod.preferred_anti_affinity:
                process(t, existing, node.labels, -t[4])
            if hard > 0:
                for t in existing.required_affinity:
                    process(t, pod, node.labels, hard)
            for t in existing.preferred_affinity:
                process(t, pod, node.labels, t[4])
            for t in existing.preferred_anti_affinity:
                process(t, pod, node.labels, -t[4])
    if not topology:
        return [0] * len(nodes)
    scores = [sum(v for (key, value), v in topology.items() if node.labels.get(key) == value) for node in nodes]
    lo, hi = min(scores), max(scores)
    diff = hi - lo
    return [int(float(MAX_NODE_SCORE) * (float(s - lo) / float(diff))) if diff > 0 else 0 for s in scores]


SCORERS = {
    "NodeResourcesFit": score_fit,
    "NodeResourcesBalancedAllocation": score_balanced,
    "TaintToleration": score_taints,
    "NodeAffinity": score_node_affinity,
    "ImageLocality": score_image_locality,
    "PodTopologySpread": score_spread,
    "InterPodAffinity": score_inter_pod,
}
