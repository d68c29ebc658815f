"""Pods and nodes parsed once into the plain values every kernel reads.

Both halves share this step: the native compiler interns these values for csrc/sched, and
the Python twin (reference.py) reads them directly.  Semantics follow upstream: pod
requests as resourcehelper.PodRequests (sidecars, init containers, overhead), non-zero
defaults for scoring, upstream's label-selector and node-selector rules.
"""

from __future__ import annotations

import functools
import math
import re
from datetime import datetime
from fractions import Fraction
from types import MappingProxyType

import orjson

DEFAULT_MILLI_CPU_REQUEST = 100  # schedutil.DefaultMilliCPURequest
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024  # schedutil.DefaultMemoryRequest
HOSTNAME_KEY = "kubernetes.io/hostname"
UNSCHEDULABLE_TAINT_KEY = "node.kubernetes.io/unschedulable"
STANDARD_RESOURCES = ("cpu", "memory", "ephemeral-storage", "pods")
EFFECTS = {"": 0, "NoSchedule": 1, "PreferNoSchedule": 2, "NoExecute": 3}
OPS = {"In": 0, "NotIn": 1, "Exists": 2, "DoesNotExist": 3, "Gt": 4, "Lt": 5}
PROTOCOLS = {"TCP": 0, "UDP": 1, "SCTP": 2}

_SUFFIXES = {
    "n": Fraction(1, 10**9), "u": Fraction(1, 10**6), "m": Fraction(1, 1000), "": Fraction(1),
    "k": Fraction(10**3), "M": Fraction(10**6), "G": Fraction(10**9), "T": Fraction(10**12),
    "P": Fraction(10**15), "E": Fraction(10**18),
    "Ki": Fraction(2**10), "Mi": Fraction(2**20), "Gi": Fraction(2**30), "Ti": Fraction(2**40),
    "Pi": Fraction(2**50), "Ei": Fraction(2**60),
}
_QUANTITY = re.compile(r"([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(?:([eE][+-]?[0-9]+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]))?")
_INT64 = re.compile(r"[+-]?[0-9]+")


class SchedulingInputError(ValueError):
    """A pod or node the scheduler cannot read (e.g. a malformed quantity)."""


@functools.lru_cache(maxsize=4096)
def parse_quantity(text) -> Fraction:
    if isinstance(text, (int, float)):
        return Fraction(text)
    match = _QUANTITY.fullmatch(str(text).strip())
    if not match:
        raise SchedulingInputError(f"quantities must match the regular expression: {text!r}")
    number, exponent, suffix = match.groups()
    value = Fraction(number)
    if exponent:
        value *= Fraction(10) ** int(exponent[1:])
    return value * _SUFFIXES[suffix or ""]


def milli_value(text) -> int:
    return math.ceil(parse_quantity(text) * 1000)


def int_value(text) -> int:
    return math.ceil(parse_quantity(text))


@functools.lru_cache(maxsize=4096)
def resource_amount(name: str, text) -> int:
    return milli_value(text) if name == "cpu" else int_value(text)


def is_scalar_resource(name: str) -> bool:
    """Extended resources, hugepages and attachable volumes: counted by NodeResourcesFit."""
    if name in STANDARD_RESOURCES:
        return False
    return "/" in name or name.startswith(("hugepages-", "attachable-volumes-"))


def label_int(value: str):
    """A label value read as Gt/Lt read it (strconv.ParseInt), or None."""
    if _INT64.fullmatch(value):
        number = int(value)
        if -(2**63) <= number < 2**63:
            return number
    return None


def normalized_image_name(name: str) -> str:
    if name.rfind(":") <= name.rfind("/"):
        name += ":latest"
    return name


# ---- selectors -------------------------------------------------------------------------
# A requirement is (key, op, frozenset(values), number); a selector is None (matches
# nothing) or a tuple of requirements (empty: matches everything).


def label_selector(selector, match_label_keys=(), mismatch_label_keys=(), pod_labels=None):
    if selector is None:
        return None
    requirements = [(k, "In", frozenset((v,)), 0) for k, v in (selector.get("matchLabels") or {}).items()]
    for e in selector.get("matchExpressions") or ():
        requirements.append((e["key"], e["operator"], frozenset(e.get("values") or ()), 0))
    for key in match_label_keys or ():
        if pod_labels and key in pod_labels:
            requirements.append((key, "In", frozenset((pod_labels[key],)), 0))
    for key in mismatch_label_keys or ():
        if pod_labels and key in pod_labels:
            requirements.append((key, "NotIn", frozenset((pod_labels[key],)), 0))
    return tuple(requirements)


def node_selector_term(term) -> tuple:
    expressions = []
    for e in term.get("matchExpressions") or ():
        values = e.get("values") or ()
        number = 0
        if e["operator"] in ("Gt", "Lt"):
            number = label_int(values[0]) if len(values) == 1 else None
            if number is None:
                raise SchedulingInputError(f"invalid {e['operator']} value for {e['key']}: {values!r}")
        expressions.append((e["key"], e["operator"], frozenset(values), number))
    fields = []
    for f in term.get("matchFields") or ():
        if f.get("key") != "metadata.name" or f["operator"] not in ("In", "NotIn"):
            raise SchedulingInputError(f"unsupported matchFields requirement: {f!r}")
        fields.append((f["operator"], frozenset(f.get("values") or ())))
    return tuple(expressions), tuple(fields)


# ---- pods ----------------------------------------------------------------------------


def _container_requests(container) -> dict:
    resources = container.get("resources")
    if not resources:
        return {}
    requests = resources.get("requests") or {}
    limits = resources.get("limits")
    if limits:  # API defaulting: requests default to limits
        requests = {**limits, **requests}
    return {name: resource_amount(name, q) for name, q in requests.items()}


def _nonzero(requests: dict) -> dict:
    if "cpu" in requests and "memory" in requests:
        return requests
    out = dict(requests)
    out.setdefault("cpu", DEFAULT_MILLI_CPU_REQUEST)
    out.setdefault("memory", DEFAULT_MEMORY_REQUEST)
    return out


def _add(into: dict, more: dict) -> None:
    for name, amount in more.items():
        into[name] = into.get(name, 0) + amount


def _max(into: dict, more: dict) -> None:
    for name, amount in more.items():
        if amount > into.get(name, 0):
            into[name] = amount


def _combine(containers, init_containers, overhead) -> dict:
    requests: dict = {}
    for c in containers:
        _add(requests, c)
    restartable: dict = {}
    init_max: dict = {}
    for container, sidecar in init_containers:
        if sidecar:
            _add(requests, container)
            _add(restartable, container)
            step = dict(restartable)
        else:
            step = dict(container)
            _add(step, restartable)
        _max(init_max, step)
    _max(requests, init_max)
    _add(requests, overhead)
    return requests


def pod_requests_pair(spec: dict) -> tuple[dict, dict]:
    """Upstream's resourcehelper.PodRequests: containers plus sidecars, the largest init
    step, plus overhead; and the same with missing cpu/memory container requests
    defaulted (schedutil's non-zero requests, used for scoring)."""
    containers = [_container_requests(c) for c in spec.get("containers") or ()]
    init_specs = spec.get("initContainers")
    overhead_spec = spec.get("overhead")
    if not init_specs and not overhead_spec and len(containers) == 1:  # the common pod
        only = containers[0]
        return only, _nonzero(only)
    inits = [(_container_requests(c), c.get("restartPolicy") == "Always") for c in init_specs or ()]
    overhead = {n: resource_amount(n, q) for n, q in (overhead_spec or {}).items()}
    requests = _combine(containers, inits, overhead)
    nonzero = _combine([_nonzero(c) for c in containers], [(_nonzero(c), s) for c, s in inits], overhead)
    return requests, nonzero


def pod_requests(spec: dict, nonzero: bool = False) -> dict:
    return pod_requests_pair(spec)[1 if nonzero else 0]


def _pod_terms(terms, pod_namespace: str, pod_labels: dict, weighted: bool) -> tuple:
    out = []
    for entry in terms or ():
        term = entry["podAffinityTerm"] if weighted else entry
        namespaces = frozenset(term.get("namespaces") or ())
        ns_selector = term.get("namespaceSelector")
        if not namespaces and ns_selector is None:
            namespaces = frozenset((pod_namespace,))
        out.append((
            label_selector(term.get("labelSelector"), term.get("matchLabelKeys"), term.get("mismatchLabelKeys"), pod_labels),
            namespaces,
            None if ns_selector is None else label_selector(ns_selector),
            term.get("topologyKey", ""),
            int(entry.get("weight", 0)) if weighted else 0,
        ))
    return tuple(out)


def _start_time(pod: dict) -> int:
    text = (pod.get("status") or {}).get("startTime") or (pod.get("metadata") or {}).get("creationTimestamp")
    return _timestamp_micros(text) if text else 0


@functools.lru_cache(maxsize=1024)
def _timestamp_micros(text: str) -> int:
    # Timestamps have one-second resolution: pods created together share the string.
    return int(datetime.fromisoformat(text).timestamp() * 1_000_000)


class ParsedPod:
    """What every kernel reads about one pod (upstream's PodInfo plus PreFilter state)."""

    __slots__ = (
        "host_ports",
        "images",
        "key",
        "labels",
        "name",
        "namespace",
        "native",
        "node_name",
        "node_selector",
        "nonzero_cpu",
        "nonzero_memory",
        "num_containers",
        "preempt_never",
        "preferred_affinity",
        "preferred_anti_affinity",
        "preferred_node_terms",
        "priority",
        "requests",
        "require_all_topologies",
        "required_affinity",
        "required_anti_affinity",
        "required_node_terms",
        "sequence",
        "spread_constraints",
        "start_time",
        "template",
        "terminating",
        "tolerations",
    )

    def __init__(self, pod: dict):
        meta = pod.get("metadata") or {}
        spec = pod.get("spec") or {}
        self.namespace = meta.get("namespace") or "default"
        self.name = meta.get("name", "")
        self.key = f"{self.namespace}/{self.name}"
        self.node_name = spec.get("nodeName") or ""
        self.labels = dict(meta.get("labels") or {})
        self.priority = int(spec.get("priority") or 0)
        self.preempt_never = spec.get("preemptionPolicy") == "Never"
        self.requests, nonzero = pod_requests_pair(spec)
        self.nonzero_cpu = nonzero.get("cpu", 0)
        self.nonzero_memory = nonzero.get("memory", 0)
        ports = []
        for c in spec.get("containers") or ():
            for p in c.get("ports") or ():
                if p.get("hostPort"):
                    ip = p.get("hostIP") or "0.0.0.0"
                    ports.append(("" if ip == "0.0.0.0" else ip, p.get("protocol") or "TCP", int(p["hostPort"])))
        self.host_ports = tuple(ports)
        self.tolerations = tuple(
            (t.get("key") or "", t.get("operator") == "Exists", t.get("value") or "", t.get("effect") or "")
            for t in spec.get("tolerations") or ()
        )
        self.node_selector = dict(spec.get("nodeSelector") or {})
        affinity = spec.get("affinity")
        node_affinity = (affinity.get("nodeAffinity") if affinity else None) or {}
        required = node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
        self.required_node_terms = (
            None if required is None else tuple(node_selector_term(t) for t in required.get("nodeSelectorTerms") or ())
        )
        self.preferred_node_terms = tuple(
            (int(p["weight"]), node_selector_term(p.get("preference") or {}))
            for p in node_affinity.get("preferredDuringSchedulingIgnoredDuringExecution") or ()
        )
        constraints = []
        for c in spec.get("topologySpreadConstraints") or ():
            when = c.get("whenUnsatisfiable") or "DoNotSchedule"
            constraints.append((
                int(c["maxSkew"]),
                c["topologyKey"],
                when,
                label_selector(c.get("labelSelector"), c.get("matchLabelKeys"), (), self.labels),
                int(c.get("minDomains") or 1) if when == "DoNotSchedule" else 1,
                (c.get("nodeAffinityPolicy") or "Honor") == "Honor",
                (c.get("nodeTaintsPolicy") or "Ignore") == "Honor",
            ))
        self.spread_constraints = tuple(constraints)
        self.require_all_topologies = True
        pod_affinity = (affinity.get("podAffinity") if affinity else None) or {}
        anti = (affinity.get("podAntiAffinity") if affinity else None) or {}
        ns, labels = self.namespace, self.labels
        self.required_affinity = _pod_terms(pod_affinity.get("requiredDuringSchedulingIgnoredDuringExecution"), ns, labels, False) if pod_affinity else ()
        self.required_anti_affinity = _pod_terms(anti.get("requiredDuringSchedulingIgnoredDuringExecution"), ns, labels, False) if anti else ()
        self.preferred_affinity = _pod_terms(pod_affinity.get("preferredDuringSchedulingIgnoredDuringExecution"), ns, labels, True) if pod_affinity else ()
        self.preferred_anti_affinity = _pod_terms(anti.get("preferredDuringSchedulingIgnoredDuringExecution"), ns, labels, True) if anti else ()
        containers = list(spec.get("initContainers") or ()) + list(spec.get("containers") or ())
        self.images = tuple(normalized_image_name(c["image"]) for c in containers if c.get("image"))
        self.num_containers = len(containers)
        self.start_time = _start_time(pod)
        self.terminating = bool(meta.get("deletionTimestamp"))
        self.sequence = 0  # set when the pod is added to a cluster: order of addition
        self.native = None  # the native Cluster's compiled struct, cached for bind()
        self.template = None  # the PodTemplates entry this parse came from (see there)

    def copy(self) -> ParsedPod:
        """A shallow copy (every slot; spelled out, as a loop over the slots costs ~3x more
        and this runs once per scheduled pod)."""
        clone = _new_parsed_pod(ParsedPod)
        clone.host_ports = self.host_ports
        clone.images = self.images
        clone.key = self.key
        clone.labels = self.labels
        clone.name = self.name
        clone.namespace = self.namespace
        clone.native = self.native
        clone.node_name = self.node_name
        clone.node_selector = self.node_selector
        clone.nonzero_cpu = self.nonzero_cpu
        clone.nonzero_memory = self.nonzero_memory
        clone.num_containers = self.num_containers
        clone.preempt_never = self.preempt_never
        clone.preferred_affinity = self.preferred_affinity
        clone.preferred_anti_affinity = self.preferred_anti_affinity
        clone.preferred_node_terms = self.preferred_node_terms
        clone.priority = self.priority
        clone.requests = self.requests
        clone.require_all_topologies = self.require_all_topologies
        clone.required_affinity = self.required_affinity
        clone.required_anti_affinity = self.required_anti_affinity
        clone.required_node_terms = self.required_node_terms
        clone.sequence = self.sequence
        clone.spread_constraints = self.spread_constraints
        clone.start_time = self.start_time
        clone.template = self.template
        clone.terminating = self.terminating
        clone.tolerations = self.tolerations
        return clone

    def placed_on(self, node_name: str) -> ParsedPod:
        """A copy bound to node_name (the assumed pod after a scheduling decision)."""
        clone = self.copy()
        clone.node_name = node_name
        return clone

    def copy_for(self, pod: dict, meta: dict) -> ParsedPod:
        """This template's parse for another pod of the same namespace, labels and spec."""
        clone = self.copy()
        name = meta.get("name", "")
        clone.name = name
        clone.key = f"{self.namespace}/{name}"
        clone.start_time = _start_time(pod)
        clone.terminating = bool(meta.get("deletionTimestamp"))
        clone.template = self
        return clone

    def has_affinity(self) -> bool:
        return bool(self.required_affinity or self.required_anti_affinity or self.preferred_affinity or self.preferred_anti_affinity)


_new_parsed_pod = object.__new__


_dumps = orjson.dumps


class PodTemplates:
    """Parsed pending pods by what the parse reads besides identity: namespace, labels and
    spec.  Pods stamped from one template (a ReplicaSet's, a Job's) parse to the same
    requests, tolerations, affinity terms, ... so the second and later copies clone the
    first instead of parsing again, and share its compiled native struct (the clone's
    ``template`` points at the entry; ``native`` set on the entry serves every clone whose
    constraints were not changed after the parse, see ClusterBase._with_default_spreading).
    ``parse`` takes pods to schedule: one with spec.nodeName is parsed on its own (its
    NodeName filter needs the name compiled in); ``parse_placed`` takes pods on nodes."""

    def __init__(self, capacity: int = 1024) -> None:
        self.capacity = capacity
        self._entries: dict[bytes, ParsedPod] = {}
        # The entry used last and its key: pods of one template mostly arrive one after
        # another, and comparing the key with the last one costs a fifth of hashing it for
        # the dict (the key is the whole serialized spec).  Always an entry of ``_entries``.
        self._last: tuple[bytes | None, ParsedPod | None] = (None, None)

    def parse(self, pod) -> ParsedPod:
        if isinstance(pod, ParsedPod):
            return pod
        spec = pod.get("spec") if isinstance(pod, dict) else None
        if not isinstance(spec, dict) or spec.get("nodeName"):
            return parse_pod(pod)
        meta = pod.get("metadata")
        if not isinstance(meta, dict):
            return parse_pod(pod)
        return self._shared(pod, meta, spec, "")

    def parse_placed(self, pod) -> ParsedPod:
        """A pod on a node (bound, or assumed in-process): keyed by its spec without
        spec.nodeName, so the replicas of one template share one parse whatever their nodes
        (a cluster's start adds every bound pod), and the entry is the one its pending pods
        use.  Only for pods counted on nodes: the entry's compiled struct has no nodeName,
        which only the NodeName filter of the pod being scheduled reads
        (Cluster._native_pod compiles the entry, never the clone)."""
        if isinstance(pod, ParsedPod):
            return pod
        spec = pod.get("spec") if isinstance(pod, dict) else None
        meta = pod.get("metadata") if isinstance(pod, dict) else None
        if not isinstance(spec, dict) or not isinstance(meta, dict) or not spec.get("nodeName"):
            return parse_pod(pod)
        unplaced = dict(spec)
        node_name = unplaced.pop("nodeName")
        return self._shared(pod, meta, unplaced, node_name)

    def _shared(self, pod: dict, meta: dict, unplaced_spec: dict, node_name: str) -> ParsedPod:
        """``pod`` from the entry of (namespace, labels, ``unplaced_spec``), made on first
        use; the entry itself is on no node."""
        try:
            key = _dumps((meta.get("namespace"), meta.get("labels"), unplaced_spec))
        except TypeError:  # not JSON (a hand-built dict): parse it as it is
            return parse_pod(pod)
        last_key, template = self._last
        if key != last_key:
            template = self._entries.get(key)
            if template is None:
                parsed = parse_pod(pod)
                if len(self._entries) >= self.capacity:
                    self._entries.clear()
                template = self._entries[key] = parsed.placed_on("")
                self._last = (key, template)
                parsed.template = template
                return parsed
            self._last = (key, template)
        clone = template.copy_for(pod, meta)
        if node_name:
            clone.node_name = node_name
        return clone


def parse_pod(pod) -> ParsedPod:
    """ParsedPod, with malformed input reported as SchedulingInputError (never a crash)."""
    if isinstance(pod, ParsedPod):
        return pod
    try:
        return ParsedPod(pod)
    except SchedulingInputError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        name = (pod.get("metadata") or {}).get("name") if isinstance(pod, dict) else None
        raise SchedulingInputError(f"pod {name!r} cannot be read: {exc!r}") from None


def parse_node(node) -> ParsedNode:
    try:
        return ParsedNode(node)
    except SchedulingInputError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise SchedulingInputError(f"node cannot be read: {exc!r}") from None


def zone_key(labels: dict) -> str:
    """Upstream's utilnode.GetZoneKey: region + ":\\0:" + zone, "" without either label."""
    zone = labels.get("topology.kubernetes.io/zone", labels.get("failure-domain.beta.kubernetes.io/zone", ""))
    region = labels.get("topology.kubernetes.io/region", labels.get("failure-domain.beta.kubernetes.io/region", ""))
    if not region and not zone:
        return ""
    return f"{region}:\x00:{zone}"


@functools.lru_cache(maxsize=256)
def _node_allocatable(items: tuple) -> tuple[MappingProxyType, int]:
    """(counted resources, allowed pods) of a node's allocatable, parsed once for the nodes
    of one shape (read-only: the nodes that share it must not see each other's changes)."""
    allocatable = {name: resource_amount(name, q) for name, q in items if name in STANDARD_RESOURCES or is_scalar_resource(name)}
    pods = allocatable.pop("pods", 0)
    return MappingProxyType(allocatable), pods


class ParsedNode:
    __slots__ = ("allocatable", "allowed_pods", "images", "labels", "name", "taints", "unschedulable", "zone")

    def __init__(self, node: dict):
        meta = node.get("metadata") or {}
        spec = node.get("spec") or {}
        status = node.get("status") or {}
        self.name = meta["name"]
        self.labels = dict(meta.get("labels") or {})
        # Once per node of a cluster's first list: the empty cases skip building generators.
        taints = spec.get("taints")
        self.taints = tuple((t["key"], t.get("value") or "", t["effect"]) for t in taints) if taints else ()
        self.unschedulable = bool(spec.get("unschedulable"))
        allocatable = status.get("allocatable") or status.get("capacity") or {}
        self.allocatable, self.allowed_pods = _node_allocatable(tuple(allocatable.items()))
        images = []
        for image in status.get("images") or ():
            for name in image.get("names") or ():
                images.append((name, int(image.get("sizeBytes") or 0)))
        self.images = tuple(images)
        self.zone = zone_key(self.labels)
