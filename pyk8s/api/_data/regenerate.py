"""Regenerate ``definitions.json``: the OpenAPI v3 schemas of the kinds pyk8s serves.

The source is the JSON Schema rendering of Kubernetes' own OpenAPI spec that the
``kubernetes-validate`` wheel ships (one release per Kubernetes minor; descriptions,
``x-kubernetes-*`` patch/list extensions and group-version-kinds are kept).  It is turned
back into OpenAPI 3.0 as kube-apiserver publishes it (``type`` without ``null``, ``$ref``
with siblings wrapped in ``allOf``, IntOrString/Quantity as strings) and pruned to the
closure of the kinds below.  Run it when the Kubernetes version moves:

    pip install kubernetes-validate==1.37.0 && python pyk8s/api/_data/regenerate.py
"""

from __future__ import annotations

import json
import pathlib
import sys

KUBERNETES_VERSION = "1.37.0"

ROOTS = [
    "io.k8s.api.core.v1.Namespace", "io.k8s.api.core.v1.NamespaceList",
    "io.k8s.api.core.v1.Pod", "io.k8s.api.core.v1.PodList", "io.k8s.api.core.v1.Binding",
    "io.k8s.api.core.v1.Node", "io.k8s.api.core.v1.NodeList",
    "io.k8s.api.core.v1.Event", "io.k8s.api.core.v1.EventList",
    "io.k8s.api.core.v1.ConfigMap", "io.k8s.api.core.v1.ConfigMapList",
    "io.k8s.api.core.v1.Secret", "io.k8s.api.core.v1.SecretList",
    "io.k8s.api.core.v1.Service", "io.k8s.api.core.v1.ServiceList",
    "io.k8s.api.core.v1.Endpoints", "io.k8s.api.core.v1.EndpointsList",
    "io.k8s.api.core.v1.ServiceAccount", "io.k8s.api.core.v1.ServiceAccountList",
    "io.k8s.api.policy.v1.Eviction",
    "io.k8s.api.apps.v1.Deployment", "io.k8s.api.apps.v1.DeploymentList",
    "io.k8s.api.apps.v1.ReplicaSet", "io.k8s.api.apps.v1.ReplicaSetList",
    "io.k8s.api.autoscaling.v1.Scale",
    "io.k8s.api.batch.v1.Job", "io.k8s.api.batch.v1.JobList",
    "io.k8s.api.coordination.v1.Lease", "io.k8s.api.coordination.v1.LeaseList",
    "io.k8s.api.scheduling.v1.PriorityClass", "io.k8s.api.scheduling.v1.PriorityClassList",
    "io.k8s.api.discovery.v1.EndpointSlice", "io.k8s.api.discovery.v1.EndpointSliceList",
    "io.k8s.apimachinery.pkg.apis.meta.v1.Status",
    "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions",
    "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent",
    "io.k8s.apimachinery.pkg.apis.meta.v1.Patch",
    "io.k8s.apimachinery.pkg.apis.meta.v1.APIResourceList",
    "io.k8s.apimachinery.pkg.apis.meta.v1.APIGroupList",
    "io.k8s.apimachinery.pkg.apis.meta.v1.APIVersions",
]

# Scalars that kube-apiserver's OpenAPI describes as plain strings.
STRINGS = {
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {"type": "string", "format": "int-or-string"},
    "io.k8s.apimachinery.pkg.api.resource.Quantity": {"type": "string"},
}


def _convert(node, in_properties: bool = False):
    if isinstance(node, list):
        return [_convert(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key == "type" and isinstance(value, list):
            kinds = [v for v in value if v != "null"]
            value = kinds[0] if len(kinds) == 1 else kinds
        elif key == "$ref":
            value = value.replace("#/$defs/", "#/components/schemas/")
        elif key == "properties":
            value = {k: _convert(v, True) for k, v in value.items()}
            for name in ("apiVersion", "kind"):  # the generator pinned these; upstream does not
                if name in value:
                    value[name].pop("enum", None)
            out[key] = value
            continue
        else:
            value = _convert(value)
        out[key] = value
    if "$ref" in out and len(out) > 1:
        ref = out.pop("$ref")
        out = {"allOf": [{"$ref": ref}], **out}
    return out


def _refs(node, found: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            found.add(ref.rsplit("/", 1)[-1])
        for value in node.values():
            _refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found)


def main() -> None:
    import kubernetes_validate  # type: ignore[import-not-found]

    src = pathlib.Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema" / f"v{KUBERNETES_VERSION}-local" / "_definitions.json"
    defs = json.loads(src.read_text())["$defs"]
    wanted, todo = set(), list(ROOTS)
    while todo:
        name = todo.pop()
        if name in wanted:
            continue
        wanted.add(name)
        found: set[str] = set()
        _refs(defs[name], found)
        todo.extend(found - wanted)
    out = {}
    for name in sorted(wanted):
        schema = _convert(defs[name])
        if name in STRINGS:
            schema = {"description": schema.get("description", ""), **STRINGS[name]}
        out[name] = schema
    dest = pathlib.Path(__file__).with_name("definitions.json")
    dest.write_text(json.dumps({"kubernetesVersion": KUBERNETES_VERSION, "schemas": out}, sort_keys=True,
                               separators=(",", ":")))
    print(f"wrote {len(out)} schemas to {dest} ({dest.stat().st_size} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()
