"""Small fluent builders for scheduler tests (nodes and pods as API dicts), a random
cluster generator the property tests drive through both Cluster and ReferenceCluster, and
an ApiClient stand-in for writers that never connect."""

from __future__ import annotations

import random


class NodeBuilder:
    def __init__(self, name: str):
        self.obj = {"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}}, "spec": {},
                    "status": {"allocatable": {"pods": "110"}, "images": []}}

    def capacity(self, cpu=None, memory=None, pods=None, **extra):
        alloc = self.obj["status"]["allocatable"]
        for key, value in (("cpu", cpu), ("memory", memory), ("pods", pods)):
            if value is not None:
                alloc[key] = str(value)
        for key, value in extra.items():
            alloc[key if "/" in key else key.replace("_", "-")] = str(value)
        return self

    def labels(self, **labels):
        self.obj["metadata"]["labels"].update(labels)
        return self

    def label(self, key, value):
        self.obj["metadata"]["labels"][key] = value
        return self

    def taint(self, key, value, effect):
        self.obj["spec"].setdefault("taints", []).append({"key": key, "value": value, "effect": effect})
        return self

    def unschedulable(self):
        self.obj["spec"]["unschedulable"] = True
        return self

    def image(self, name, size):
        self.obj["status"]["images"].append({"names": [name], "sizeBytes": size})
        return self

    def build(self):
        return self.obj


class PodBuilder:
    def __init__(self, name: str, namespace: str = "default"):
        self.obj = {"metadata": {"name": name, "namespace": namespace, "labels": {}}, "spec": {"containers": []}}

    @property
    def spec(self):
        return self.obj["spec"]

    def container(self, cpu=None, memory=None, image="busybox", ports=(), **extra):
        requests = {}
        if cpu is not None:
            requests["cpu"] = str(cpu)
        if memory is not None:
            requests["memory"] = str(memory)
        requests.update({k if "/" in k else k.replace("_", "-"): str(v) for k, v in extra.items()})
        c = {"name": f"c{len(self.spec['containers'])}", "image": image, "resources": {"requests": requests}}
        if ports:
            c["ports"] = [{"containerPort": p, "hostPort": p} for p in ports]
        self.spec["containers"].append(c)
        return self

    def init_container(self, cpu=None, memory=None, sidecar=False):
        requests = {k: str(v) for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}
        c = {"name": f"i{len(self.spec.get('initContainers', []))}", "image": "busybox", "resources": {"requests": requests}}
        if sidecar:
            c["restartPolicy"] = "Always"
        self.spec.setdefault("initContainers", []).append(c)
        return self

    def labels(self, **labels):
        self.obj["metadata"]["labels"].update(labels)
        return self

    def on(self, node):
        self.spec["nodeName"] = node
        return self

    def priority(self, p):
        self.spec["priority"] = p
        return self

    def started(self, text):
        self.obj.setdefault("status", {})["startTime"] = text
        return self

    def set(self, **fields):
        self.spec.update(fields)
        return self

    def toleration(self, key="", value="", effect="", operator="Equal"):
        self.spec.setdefault("tolerations", []).append({"key": key, "value": value, "effect": effect, "operator": operator})
        return self

    def affinity(self, kind, rule, term):
        """kind: nodeAffinity/podAffinity/podAntiAffinity; rule: required/preferred."""
        key = "requiredDuringSchedulingIgnoredDuringExecution" if rule == "required" else "preferredDuringSchedulingIgnoredDuringExecution"
        section = self.spec.setdefault("affinity", {}).setdefault(kind, {})
        if kind == "nodeAffinity" and rule == "required":
            section.setdefault(key, {"nodeSelectorTerms": []})["nodeSelectorTerms"].append(term)
        else:
            section.setdefault(key, []).append(term)
        return self

    def spread(self, key, max_skew=1, when="DoNotSchedule", match=None, **extra):
        c = {"maxSkew": max_skew, "topologyKey": key, "whenUnsatisfiable": when,
             "labelSelector": {"matchLabels": match} if match is not None else None, **extra}
        self.spec.setdefault("topologySpreadConstraints", []).append(c)
        return self

    def build(self):
        return self.obj


def pod_term(key, match, namespaces=None):
    term = {"labelSelector": {"matchLabels": match}, "topologyKey": key}
    if namespaces is not None:
        term["namespaces"] = namespaces
    return term


# ---- random clusters -------------------------------------------------------------------
ZONE = "topology.kubernetes.io/zone"
HOST = "kubernetes.io/hostname"
TAINTS = [("dedicated", "a", "NoSchedule"), ("spot", "", "PreferNoSchedule"), ("x", "y", "NoExecute"), ("pref", "b", "PreferNoSchedule")]
IMAGES = [("nginx:latest", 150 * 2**20), ("redis:7", 80 * 2**20), ("big:1", 900 * 2**20), ("tiny:1", 5 * 2**20)]


def random_node(rng: random.Random, i: int):
    b = NodeBuilder(f"node-{i}").capacity(cpu=f"{rng.randint(1, 16) * 500}m", memory=f"{rng.randint(1, 16)}Gi", pods=rng.randint(2, 8))
    if rng.random() < 0.85:
        b.label(ZONE, f"z{rng.randint(1, 3)}")
    b.label("disk", rng.choice(["ssd", "hdd"]))
    b.label("gen", rng.choice(["1", "2", "3", "5", "x"]))
    if rng.random() < 0.3:
        b.capacity(ephemeral_storage=f"{rng.randint(1, 4)}Gi")
    if rng.random() < 0.4:
        b.capacity(**{"example.com/gpu": rng.randint(0, 2)})
    if rng.random() < 0.3:
        b.capacity(**{"example.com/fpga": rng.randint(0, 1)})
    for taint in rng.sample(TAINTS, rng.choice([0, 0, 0, 0, 0, 1, 2])):
        b.taint(*taint)
    if rng.random() < 0.04:
        b.unschedulable()
    for name, size in rng.sample(IMAGES, rng.randint(0, 3)):
        b.image(name, size)
    return b.build()


def random_pod(rng: random.Random, name: str, nodes=None, rich=True):
    ns = rng.choice(["default", "default", "other"])
    b = PodBuilder(name, ns).labels(app=rng.choice(["a", "b", "c"]))
    for _ in range(rng.randint(1, 2)):
        b.container(cpu=rng.choice([None, "100m", "250m", "500m", "1", "2"]), memory=rng.choice([None, "64Mi", "256Mi", "1Gi", "2Gi"]),
                    image=rng.choice([i for i, _ in IMAGES] + ["nginx"]), ports=rng.choice([(), (), (80,), (443,)]))
    if rng.random() < 0.2:
        b.init_container(cpu=rng.choice(["500m", "3"]), memory="128Mi", sidecar=rng.random() < 0.5)
    if rng.random() < 0.2:
        b.container(**{"example.com/gpu": 1})
    if rng.random() < 0.15:
        b.container(**{"example.com/fpga": 1})
    if rng.random() < 0.1:
        b.set(overhead={"cpu": "50m"})
    b.priority(rng.randint(0, 3))
    if nodes is not None:
        b.on(rng.choice(nodes))
    if rng.random() < 0.3:
        b.affinity("podAntiAffinity", "required", pod_term(rng.choice([HOST, ZONE]), {"app": rng.choice("abc")}))
    if rng.random() < 0.2:
        b.affinity("podAffinity", "preferred", {"weight": rng.randint(1, 100), "podAffinityTerm": pod_term(rng.choice([HOST, ZONE]), {"app": rng.choice("abc")})})
    if rng.random() < 0.1:
        b.affinity("podAffinity", "required", pod_term(ZONE, {"app": rng.choice("abc")}, namespaces=["default", "other"]))
    if not rich:
        return b.build()
    if rng.random() < 0.2:
        b.set(nodeSelector={"disk": rng.choice(["ssd", "hdd"])})
    if rng.random() < 0.3:
        op = rng.choice(["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"])
        values = {"In": ["z1", "z2"], "NotIn": ["z3"], "Gt": ["1"], "Lt": ["4"]}.get(op, [])
        key = "gen" if op in ("Gt", "Lt") else ZONE
        b.affinity("nodeAffinity", "required", {"matchExpressions": [{"key": key, "operator": op, "values": values}]})
    if rng.random() < 0.3:
        b.affinity("nodeAffinity", "preferred", {"weight": rng.randint(1, 100), "preference": {"matchExpressions": [{"key": "disk", "operator": "In", "values": [rng.choice(["ssd", "hdd"])]}]}})
    for taint in rng.sample(TAINTS, rng.choice([0, 1, 2])):
        b.toleration(key=taint[0], value=taint[1], effect=rng.choice([taint[2], ""]), operator=rng.choice(["Equal", "Exists"]))
    if rng.random() < 0.05:
        b.toleration(operator="Exists")
    if rng.random() < 0.35:
        b.spread(rng.choice([ZONE, HOST]), max_skew=rng.randint(1, 2), when=rng.choice(["DoNotSchedule", "ScheduleAnyway"]),
                 match={"app": rng.choice("abc")}, nodeTaintsPolicy=rng.choice(["Honor", "Ignore"]))
    if rng.random() < 0.15:
        b.affinity("podAntiAffinity", "preferred", {"weight": rng.randint(1, 100), "podAffinityTerm": pod_term(ZONE, {"app": rng.choice("abc")})})
    return b.build()


class _PlainConfig:
    tls_server_name = None

    def ssl_context(self):
        return None

    def auth_headers(self):
        return {}


class OfflineClient:
    """What PipelinedWriter reads of an ApiClient, for a writer whose connections a test
    feeds by hand (plain HTTP, no credentials)."""

    server = "http://127.0.0.1:9"
    config = _PlainConfig()
    connect_timeout = 1.0

