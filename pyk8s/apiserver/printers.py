"""Server-side table columns and cells per kind, as upstream's
pkg/printers/internalversion/printers.go writes them (``kubectl get`` shows what the
server puts here; ``-o wide`` shows the priority-1 columns too, which the server always
sends).

A printer takes the decoded object and ``now`` (epoch seconds) and returns the row's cells,
or ``(cells, conditions)`` where upstream marks the row (completed and failed pods).
Column descriptions are upstream's: the API documentation of the field shown, read from
the bundled schemas, or the fixed sentences upstream writes.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Any

from pyk8s.apiserver.printing import (
    AGE_COLUMN,
    CONTAINERS_COLUMN,
    IMAGES_COLUMN,
    NAME_COLUMN,
    OBJECT_META,
    Column,
    Printer,
    age,
    column,
    container_cells,
    dig,
    format_label_selector,
    format_labels,
    has_condition,
    human_duration,
    name_of,
    parse_time,
    resolve_columns,
    selector_string,
    timestamp_since,
)

__all__ = ["printer_for", "default_columns"]

Obj = dict[str, Any]

# -- pods --------------------------------------------------------------------------------------

_POD_SUCCEEDED = [{"type": "Completed", "status": "True", "reason": "Succeeded", "message": "The pod has completed successfully."}]
_POD_FAILED = [{"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}]


def _restartable(container: Any) -> bool:
    return isinstance(container, dict) and container.get("restartPolicy") == "Always"


def _finished_at(status: Obj) -> float | None:
    return parse_time(dig(status, "lastState", "terminated", "finishedAt", default=""))


def _terminated_reason(terminated: Obj, prefix: str) -> str:
    if terminated.get("reason"):
        return prefix + terminated["reason"]
    if terminated.get("signal"):
        return f"{prefix}Signal:{terminated['signal']}"
    return f"{prefix}ExitCode:{terminated.get('exitCode', 0)}"


def print_pod(pod: Obj, now: float):
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    init_specs = {c.get("name"): c for c in spec.get("initContainers") or () if isinstance(c, dict)}
    total = len(spec.get("containers") or ()) + sum(1 for c in init_specs.values() if _restartable(c))
    ready = restarts = sidecar_restarts = 0
    last_restart = sidecar_last_restart = None
    phase = status.get("phase", "")
    reason = status.get("reason") or phase
    conditions = status.get("conditions") or ()
    for condition in conditions:
        if condition.get("type") == "PodScheduled" and condition.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"
    row_conditions = _POD_SUCCEEDED if phase == "Succeeded" else _POD_FAILED if phase == "Failed" else None

    initializing = False
    init_statuses = status.get("initContainerStatuses") or ()
    for index, container in enumerate(init_statuses):
        restarts += container.get("restartCount", 0)
        finished = _finished_at(container)
        if finished is not None and (last_restart is None or finished > last_restart):
            last_restart = finished
        sidecar = _restartable(init_specs.get(container.get("name")))
        if sidecar:
            sidecar_restarts += container.get("restartCount", 0)
            if finished is not None and (sidecar_last_restart is None or finished > sidecar_last_restart):
                sidecar_last_restart = finished
        state = container.get("state") or {}
        terminated, waiting = state.get("terminated"), state.get("waiting")
        if terminated is not None and terminated.get("exitCode", 0) == 0:
            continue
        if sidecar and container.get("started"):
            if container.get("ready"):
                ready += 1
            continue
        if terminated is not None:
            reason = _terminated_reason(terminated, "Init:")
        elif waiting is not None and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{index}/{len(spec.get('initContainers') or ())}"
        initializing = True
        break

    if not initializing or has_condition(conditions, "Initialized"):
        restarts, last_restart = sidecar_restarts, sidecar_last_restart
        has_running = False
        for container in reversed(status.get("containerStatuses") or ()):
            restarts += container.get("restartCount", 0)
            finished = _finished_at(container)
            if finished is not None and (last_restart is None or finished > last_restart):
                last_restart = finished
            state = container.get("state") or {}
            waiting, terminated = state.get("waiting"), state.get("terminated")
            if waiting is not None and waiting.get("reason"):
                reason = waiting["reason"]
            elif terminated is not None:
                reason = _terminated_reason(terminated, "")
            elif container.get("ready") and state.get("running") is not None:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            reason = "Running" if has_condition(conditions, "Ready") else "NotReady"

    deleting = bool((pod.get("metadata") or {}).get("deletionTimestamp"))
    if deleting and status.get("reason") == "NodeLost":
        reason = "Unknown"
    elif deleting and phase not in ("Succeeded", "Failed"):
        reason = "Terminating"

    restarts_cell = str(restarts)
    if restarts and last_restart is not None:
        restarts_cell = f"{restarts} ({human_duration(now - last_restart)} ago)"

    pod_ips = status.get("podIPs") or ()
    pod_ip = (pod_ips[0].get("ip") if pod_ips and isinstance(pod_ips[0], dict) else "") or "<none>"
    gates = spec.get("readinessGates") or ()
    readiness_gates = "<none>"
    if gates:
        by_type = {}
        for condition in conditions:
            by_type.setdefault(condition.get("type"), condition.get("status"))
        true_count = sum(1 for gate in gates if by_type.get(gate.get("conditionType")) == "True")
        readiness_gates = f"{true_count}/{len(gates)}"
    cells = [
        name_of(pod), f"{ready}/{total}", reason, restarts_cell, age(pod, now),
        pod_ip, spec.get("nodeName") or "<none>", status.get("nominatedNodeName") or "<none>", readiness_gates,
    ]
    return cells, row_conditions


_POD_COLUMNS = (
    NAME_COLUMN,
    column("Ready", "The aggregate readiness state of this pod for accepting traffic."),
    column("Status", "The aggregate status of the containers in this pod."),
    column("Restarts", "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted."),
    AGE_COLUMN,
    column("IP", ("io.k8s.api.core.v1.PodStatus", "podIP"), priority=1),
    column("Node", ("io.k8s.api.core.v1.PodSpec", "nodeName"), priority=1),
    column("Nominated Node", ("io.k8s.api.core.v1.PodStatus", "nominatedNodeName"), priority=1),
    column("Readiness Gates", ("io.k8s.api.core.v1.PodSpec", "readinessGates"), priority=1),
)

# -- nodes and namespaces ----------------------------------------------------------------------

_ROLE_PREFIX = "node-role.kubernetes.io/"


def _node_address(node: Obj, kind: str) -> str:
    for address in dig(node, "status", "addresses", default=()):
        if address.get("type") == kind:
            return address.get("address", "")
    return "<none>"


def print_node(node: Obj, now: float):
    conditions = {c.get("type"): c for c in dig(node, "status", "conditions", default=())}
    status = []
    ready = conditions.get("Ready")
    if ready is not None:
        status.append("Ready" if ready.get("status") == "True" else "NotReady")
    if not status:
        status.append("Unknown")
    if dig(node, "spec", "unschedulable"):
        status.append("SchedulingDisabled")
    roles = set()
    for key, value in ((node.get("metadata") or {}).get("labels") or {}).items():
        if key.startswith(_ROLE_PREFIX) and key[len(_ROLE_PREFIX):]:
            roles.add(key[len(_ROLE_PREFIX):])
        elif key == "kubernetes.io/role" and value:
            roles.add(value)
    info = dig(node, "status", "nodeInfo", default={})
    return [
        name_of(node), ",".join(status), ",".join(sorted(roles)) or "<none>", age(node, now), info.get("kubeletVersion", ""),
        _node_address(node, "InternalIP"), _node_address(node, "ExternalIP"),
        info.get("osImage") or "<unknown>", info.get("kernelVersion") or "<unknown>",
        info.get("containerRuntimeVersion") or "<unknown>",
    ]


_NODE_INFO = "io.k8s.api.core.v1.NodeSystemInfo"
_NODE_COLUMNS = (
    NAME_COLUMN,
    column("Status", "The status of the node"),
    column("Roles", "The roles of the node"),
    AGE_COLUMN,
    column("Version", (_NODE_INFO, "kubeletVersion")),
    column("Internal-IP", ("io.k8s.api.core.v1.NodeStatus", "addresses"), priority=1),
    column("External-IP", ("io.k8s.api.core.v1.NodeStatus", "addresses"), priority=1),
    column("OS-Image", (_NODE_INFO, "osImage"), priority=1),
    column("Kernel-Version", (_NODE_INFO, "kernelVersion"), priority=1),
    column("Container-Runtime", (_NODE_INFO, "containerRuntimeVersion"), priority=1),
)


def print_namespace(namespace: Obj, now: float):
    return [name_of(namespace), dig(namespace, "status", "phase", default=""), age(namespace, now)]


_NAMESPACE_COLUMNS = (NAME_COLUMN, column("Status", "The status of the namespace"), AGE_COLUMN)

# -- workloads ---------------------------------------------------------------------------------


def print_deployment(deployment: Obj, now: float):
    spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
    names, images = container_cells(dig(spec, "template", "spec", "containers", default=()))
    return [
        name_of(deployment), f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 0)}",
        status.get("updatedReplicas", 0), status.get("availableReplicas", 0), age(deployment, now),
        names, images, selector_string(spec.get("selector")),
    ]


_DEPLOYMENT_STATUS = "io.k8s.api.apps.v1.DeploymentStatus"
_DEPLOYMENT_COLUMNS = (
    NAME_COLUMN,
    column("Ready", "Number of the pod with ready state"),
    column("Up-to-date", (_DEPLOYMENT_STATUS, "updatedReplicas")),
    column("Available", (_DEPLOYMENT_STATUS, "availableReplicas")),
    AGE_COLUMN,
    CONTAINERS_COLUMN,
    IMAGES_COLUMN,
    column("Selector", ("io.k8s.api.apps.v1.DeploymentSpec", "selector"), priority=1),
)


def print_replicaset(replicaset: Obj, now: float):
    spec, status = replicaset.get("spec") or {}, replicaset.get("status") or {}
    names, images = container_cells(dig(spec, "template", "spec", "containers", default=()))
    return [
        name_of(replicaset), spec.get("replicas", 0), status.get("replicas", 0), status.get("readyReplicas", 0),
        age(replicaset, now), names, images, selector_string(spec.get("selector")),
    ]


_RS_SPEC, _RS_STATUS = "io.k8s.api.apps.v1.ReplicaSetSpec", "io.k8s.api.apps.v1.ReplicaSetStatus"
_REPLICASET_COLUMNS = (
    NAME_COLUMN,
    column("Desired", (_RS_SPEC, "replicas"), "integer"),
    column("Current", (_RS_STATUS, "replicas"), "integer"),
    column("Ready", (_RS_STATUS, "readyReplicas"), "integer"),
    AGE_COLUMN,
    CONTAINERS_COLUMN,
    IMAGES_COLUMN,
    column("Selector", (_RS_SPEC, "selector"), priority=1),
)


def print_job(job: Obj, now: float):
    spec, status = job.get("spec") or {}, job.get("status") or {}
    succeeded = status.get("succeeded", 0)
    if spec.get("completions") is not None:
        completions = f"{succeeded}/{spec['completions']}"
    elif (spec.get("parallelism") or 0) > 1:
        completions = f"{succeeded}/1 of {spec['parallelism']}"
    else:
        completions = f"{succeeded}/1"
    started, completed = parse_time(status.get("startTime", "")), parse_time(status.get("completionTime", ""))
    duration = ""
    if started is not None:
        duration = human_duration((completed if completed is not None else now) - started)
    conditions = status.get("conditions")
    if has_condition(conditions, "Complete"):
        state = "Complete"
    elif has_condition(conditions, "Failed"):
        state = "Failed"
    elif (job.get("metadata") or {}).get("deletionTimestamp"):
        state = "Terminating"
    elif has_condition(conditions, "Suspended"):
        state = "Suspended"
    elif has_condition(conditions, "FailureTarget"):
        state = "FailureTarget"
    elif has_condition(conditions, "SuccessCriteriaMet"):
        state = "SuccessCriteriaMet"
    else:
        state = "Running"
    names, images = container_cells(dig(spec, "template", "spec", "containers", default=()))
    return [
        name_of(job), state, completions, duration, age(job, now),
        names, images, format_label_selector(spec.get("selector")),
    ]


_JOB_COLUMNS = (
    NAME_COLUMN,
    column("Status", "Status of the job."),
    column("Completions", ("io.k8s.api.batch.v1.JobStatus", "succeeded")),
    column("Duration", "Time required to complete the job."),
    AGE_COLUMN,
    CONTAINERS_COLUMN,
    IMAGES_COLUMN,
    column("Selector", ("io.k8s.api.batch.v1.JobSpec", "selector"), priority=1),
)

# -- services and endpoints --------------------------------------------------------------------


def _external_ip(service: Obj) -> str:
    spec = service.get("spec") or {}
    external = spec.get("externalIPs") or []
    kind = spec.get("type", "")
    if kind in ("ClusterIP", "NodePort"):
        return ",".join(external) or "<none>"
    if kind == "LoadBalancer":
        ingress = dig(service, "status", "loadBalancer", "ingress", default=())
        addresses = sorted({entry.get("ip") or entry.get("hostname") for entry in ingress if entry.get("ip") or entry.get("hostname")})
        combined = addresses + list(external)
        return ",".join(combined) or "<pending>"
    if kind == "ExternalName":
        return spec.get("externalName", "")
    return "<unknown>"


def print_service(service: Obj, now: float):
    spec = service.get("spec") or {}
    cluster_ips = spec.get("clusterIPs") or []
    ports = []
    for port in spec.get("ports") or ():
        protocol = port.get("protocol", "")
        if port.get("nodePort"):
            ports.append(f"{port.get('port', 0)}:{port['nodePort']}/{protocol}")
        else:
            ports.append(f"{port.get('port', 0)}/{protocol}")
    return [
        name_of(service), spec.get("type", ""), cluster_ips[0] if cluster_ips else "<none>", _external_ip(service),
        ",".join(ports) or "<none>", age(service, now), format_labels(spec.get("selector")),
    ]


_SERVICE_SPEC = "io.k8s.api.core.v1.ServiceSpec"
_SERVICE_COLUMNS = (
    NAME_COLUMN,
    column("Type", (_SERVICE_SPEC, "type")),
    column("Cluster-IP", (_SERVICE_SPEC, "clusterIP")),
    column("External-IP", (_SERVICE_SPEC, "externalIPs")),
    column("Port(s)", (_SERVICE_SPEC, "ports")),
    AGE_COLUMN,
    column("Selector", (_SERVICE_SPEC, "selector"), priority=1),
)


def _join_host_port(host: str, port: int) -> str:
    # net.JoinHostPort brackets IPv6 addresses
    try:
        if isinstance(ipaddress.ip_address(host), ipaddress.IPv6Address):
            return f"[{host}]:{port}"
    except ValueError:
        pass
    return f"{host}:{port}"


def _format_endpoints(endpoints: Obj) -> str:
    subsets = endpoints.get("subsets") or ()
    if not subsets:
        return "<none>"
    shown: list[str] = []
    limit, more, count = 3, False, 0
    for subset in subsets:
        addresses = subset.get("addresses") or ()
        ports = subset.get("ports") or ()
        if not ports:
            count += len(addresses)
            for address in addresses:
                if len(shown) == limit:
                    more = True
                    break
                shown.append(address.get("ip", ""))
            continue
        for port in ports:
            count += len(addresses)
            for address in addresses:
                if len(shown) == limit:
                    more = True
                    break
                shown.append(_join_host_port(address.get("ip", ""), port.get("port", 0)))
    text = ",".join(shown)
    return f"{text} + {count - limit} more..." if more else text


def print_endpoints(endpoints: Obj, now: float):
    return [name_of(endpoints), _format_endpoints(endpoints), age(endpoints, now)]


_ENDPOINTS_COLUMNS = (NAME_COLUMN, column("Endpoints", ("io.k8s.api.core.v1.Endpoints", "subsets")), AGE_COLUMN)


def _first_three(items: list[str]) -> str:
    # listWithMoreString: three shown, the rest counted; nothing at all is "<unset>".
    if len(items) > 3:
        return ",".join(items[:3]) + f" + {len(items) - 3} more..."
    return ",".join(items) or "<unset>"


def print_endpointslice(endpoint_slice: Obj, now: float):
    # A port without a number shows its name, "*" only when it has none (the defaulted "" shows as "").
    ports = [str(port["port"]) if port.get("port") is not None else port.get("name", "*")
             for port in endpoint_slice.get("ports") or ()]
    addresses = [address for endpoint in endpoint_slice.get("endpoints") or () for address in endpoint.get("addresses") or ()]
    return [name_of(endpoint_slice), endpoint_slice.get("addressType", ""), _first_three(ports), _first_three(addresses),
            age(endpoint_slice, now)]


_ENDPOINT_SLICE = "io.k8s.api.discovery.v1.EndpointSlice"
_ENDPOINT_SLICE_COLUMNS = (
    NAME_COLUMN,
    column("AddressType", (_ENDPOINT_SLICE, "addressType")),
    column("Ports", (_ENDPOINT_SLICE, "ports")),
    column("Endpoints", (_ENDPOINT_SLICE, "endpoints")),
    AGE_COLUMN,
)

# -- events ------------------------------------------------------------------------------------


def print_event(event: Obj, now: float):
    first = timestamp_since(event.get("firstTimestamp"), now)
    if parse_time(event.get("firstTimestamp") or "") is None:
        first = timestamp_since(event.get("eventTime"), now)
    last = timestamp_since(event.get("lastTimestamp"), now)
    if parse_time(event.get("lastTimestamp") or "") is None:
        last = first
    count = event.get("count") or 0
    series = event.get("series")
    if isinstance(series, dict):
        last = timestamp_since(series.get("lastObservedTime"), now)
        count = series.get("count", 0)
    elif count == 0:
        count = 1  # singleton events of the events.k8s.io API carry no count
    involved = event.get("involvedObject") or {}
    kind = (involved.get("kind") or "").lower()
    target = f"{kind}/{involved['name']}" if involved.get("name") else kind
    source = event.get("source") or {}
    component = source.get("component") or event.get("reportingComponent") or ""
    instance = source.get("host") or event.get("reportingInstance") or ""
    return [
        last, event.get("type", ""), event.get("reason", ""), target, involved.get("fieldPath", ""),
        f"{component}, {instance}" if instance else component, (event.get("message") or "").strip(),
        first, count, name_of(event),
    ]


_EVENT = "io.k8s.api.core.v1.Event"
_EVENT_COLUMNS = (
    column("Last Seen", (_EVENT, "lastTimestamp")),
    column("Type", (_EVENT, "type")),
    column("Reason", (_EVENT, "reason")),
    column("Object", (_EVENT, "involvedObject")),
    column("Subobject", ("io.k8s.api.core.v1.ObjectReference", "fieldPath"), priority=1),
    column("Source", (_EVENT, "source"), priority=1),
    column("Message", (_EVENT, "message")),
    column("First Seen", (_EVENT, "firstTimestamp"), priority=1),
    column("Count", (_EVENT, "count"), priority=1),
    column("Name", (OBJECT_META, "name"), format_="name", priority=1),
)

# -- configuration and the rest ----------------------------------------------------------------


def print_configmap(configmap: Obj, now: float):
    size = len(configmap.get("data") or {}) + len(configmap.get("binaryData") or {})
    return [name_of(configmap), size, age(configmap, now)]


def print_secret(secret: Obj, now: float):
    return [name_of(secret), secret.get("type", ""), len(secret.get("data") or {}), age(secret, now)]


def print_serviceaccount(account: Obj, now: float):
    return [name_of(account), len(account.get("secrets") or ()), age(account, now)]


def print_lease(lease: Obj, now: float):
    return [name_of(lease), dig(lease, "spec", "holderIdentity", default=""), age(lease, now)]


def print_priorityclass(priority_class: Obj, now: float):
    return [
        name_of(priority_class), priority_class.get("value", 0), bool(priority_class.get("globalDefault", False)),
        age(priority_class, now), priority_class.get("preemptionPolicy", ""),
    ]


_PRIORITY_CLASS = "io.k8s.api.scheduling.v1.PriorityClass"

_SPECS = {
    ("", "Pod"): (_POD_COLUMNS, print_pod),
    ("", "Node"): (_NODE_COLUMNS, print_node),
    ("", "Namespace"): (_NAMESPACE_COLUMNS, print_namespace),
    ("", "Service"): (_SERVICE_COLUMNS, print_service),
    ("", "Endpoints"): (_ENDPOINTS_COLUMNS, print_endpoints),
    ("discovery.k8s.io", "EndpointSlice"): (_ENDPOINT_SLICE_COLUMNS, print_endpointslice),
    ("", "Event"): (_EVENT_COLUMNS, print_event),
    ("", "ConfigMap"): ((NAME_COLUMN, column("Data", ("io.k8s.api.core.v1.ConfigMap", "data")), AGE_COLUMN), print_configmap),
    ("", "Secret"): (
        (NAME_COLUMN, column("Type", ("io.k8s.api.core.v1.Secret", "type")), column("Data", ("io.k8s.api.core.v1.Secret", "data")), AGE_COLUMN),
        print_secret,
    ),
    ("", "ServiceAccount"): (
        (NAME_COLUMN, column("Secrets", ("io.k8s.api.core.v1.ServiceAccount", "secrets")), AGE_COLUMN),
        print_serviceaccount,
    ),
    ("apps", "Deployment"): (_DEPLOYMENT_COLUMNS, print_deployment),
    ("apps", "ReplicaSet"): (_REPLICASET_COLUMNS, print_replicaset),
    ("batch", "Job"): (_JOB_COLUMNS, print_job),
    ("coordination.k8s.io", "Lease"): (
        (NAME_COLUMN, column("Holder", ("io.k8s.api.coordination.v1.LeaseSpec", "holderIdentity")), AGE_COLUMN),
        print_lease,
    ),
    ("scheduling.k8s.io", "PriorityClass"): (
        (
            NAME_COLUMN,
            column("Value", (_PRIORITY_CLASS, "value"), "integer"),
            column("Global-Default", (_PRIORITY_CLASS, "globalDefault"), "boolean"),
            AGE_COLUMN,
            column("PreemptionPolicy", (_PRIORITY_CLASS, "preemptionPolicy")),
        ),
        print_priorityclass,
    ),
}

_DEFAULT_COLUMN_SPECS = (NAME_COLUMN, column("Created At", (OBJECT_META, "creationTimestamp"), "date"))


@lru_cache(maxsize=None)
def printer_for(group: str, kind: str) -> Printer | None:
    spec = _SPECS.get((group, kind))
    if spec is None:
        return None
    return Printer(resolve_columns(spec[0]), spec[1])


@lru_cache(maxsize=1)
def default_columns() -> tuple[Column, ...]:
    return resolve_columns(_DEFAULT_COLUMN_SPECS)

