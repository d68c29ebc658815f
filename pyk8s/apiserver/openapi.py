"""The OpenAPI documents kube-apiserver publishes, built from the registry and the schemas.

* ``/openapi/v3``: an index, ``{"paths": {"api/v1": {"serverRelativeURL":
  "/openapi/v3/api/v1?hash=<sha512>"}, ...}}``, one entry per served group-version plus the
  discovery documents (``api``, ``apis``, ``apis/<group>``).
* ``/openapi/v3/<path>``: an OpenAPI 3.0 document per entry, with every operation the
  registry serves (upstream operationIds, ``x-kubernetes-action``,
  ``x-kubernetes-group-version-kind``, the write parameters kubectl probes for, such as
  ``fieldValidation``) and the closure of the schemas they refer to.  kubectl's default
  ``--validate=strict`` looks for ``fieldValidation`` on the kind's PATCH operations;
  ``kubectl explain`` and client-side ``apply`` read the schemas.
* ``/openapi/v2``: the same operations as one Swagger 2.0 document, JSON or (for an Accept
  naming it) the protobuf kubectl asks for (openapi_v2_proto.py).

Documents are generated once per registry (they depend on nothing else) and served as
cached bytes with a strong ETag, the hash clients use to cache them.
"""

from __future__ import annotations

import hashlib
import weakref
from typing import Any, Iterator, NamedTuple

import orjson

from pyk8s.api.registry import Registry, ResourceDef
from pyk8s.api.schema import kubernetes_version, schema_name_for, schemas
from pyk8s.apiserver import openapi_v2_proto

__all__ = ["Document", "openapi_v3_index", "openapi_v3_document", "openapi_v2", "openapi_response"]

V3_PREFIX = "#/components/schemas/"
V2_PREFIX = "#/definitions/"
_META = "io.k8s.apimachinery.pkg.apis.meta.v1."
STATUS, DELETE_OPTIONS, WATCH_EVENT, PATCH = (_META + n for n in ("Status", "DeleteOptions", "WatchEvent", "Patch"))
PATCH_TYPES = (
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
)
V3_JSON = "application/json"
# What each subresource answers to, as upstream registers them; unknown ones get get/put/patch.
_SUBRESOURCE_VERBS = {
    "status": ("get", "put", "patch"),
    "scale": ("get", "put", "patch"),
    "binding": ("post",),
    "eviction": ("post",),
    "finalize": ("put",),
    "log": ("get",),
    "ephemeralcontainers": ("get", "put", "patch"),
    "resize": ("get", "put", "patch"),
}


class Document(NamedTuple):
    body: bytes
    etag: str  # upstream's: the SHA-512 of the body in upper-case hex, unquoted


def _document(obj: Any) -> Document:
    body = orjson.dumps(obj)
    return Document(body, hashlib.sha512(body).hexdigest().upper())


# -- parameters --------------------------------------------------------------------------------

_QUERY = {
    "allowWatchBookmarks": ("boolean", "allowWatchBookmarks requests watch events with type \"BOOKMARK\". Servers that do not implement bookmarks may ignore this flag and bookmarks are sent at the server's discretion."),
    "continue": ("string", "The continue option should be set when retrieving more results from the server."),
    "dryRun": ("string", "When present, indicates that modifications should not be persisted. Valid values are: - All: all dry run stages will be processed"),
    "fieldManager": ("string", "fieldManager is a name associated with the actor or entity that is making these changes."),
    "fieldSelector": ("string", "A selector to restrict the list of returned objects by their fields. Defaults to everything."),
    "fieldValidation": ("string", "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: This will ignore any unknown fields that are silently dropped from the object, and will ignore all but the last duplicate field that the decoder encounters. - Warn: This will send a warning via the standard warning response header for each unknown field that is dropped from the object, and for each duplicate field that is encountered. The request will still succeed if there are no other errors, and will only persist the last of any duplicate fields. This is the default in v1.23+ - Strict: This will fail the request with a BadRequest error if any unknown fields would be dropped from the object, or if any duplicate fields are present. The error returned from the server will contain all unknown and duplicate fields encountered."),
    "force": ("boolean", "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned by other people. Force flag must be unset for non-apply patch requests."),
    "gracePeriodSeconds": ("integer", "The duration in seconds before the object should be deleted. Value must be non-negative integer. The value zero indicates delete immediately."),
    "ignoreStoreReadErrorWithClusterBreakingPotential": ("boolean", "if set to true, it will trigger an unsafe deletion of the resource in case the normal deletion flow fails with a corrupt object error."),
    "labelSelector": ("string", "A selector to restrict the list of returned objects by their labels. Defaults to everything."),
    "limit": ("integer", "limit is a maximum number of responses to return for a list call."),
    "orphanDependents": ("boolean", "Deprecated: please use the PropagationPolicy, this field will be deprecated in 1.7. Should the dependent objects be orphaned."),
    "propagationPolicy": ("string", "Whether and how garbage collection will be performed. Acceptable values are: 'Orphan', 'Background', 'Foreground'."),
    "resourceVersion": ("string", "resourceVersion sets a constraint on what resource versions a request may be served from."),
    "resourceVersionMatch": ("string", "resourceVersionMatch determines how resourceVersion is applied to list calls."),
    "sendInitialEvents": ("boolean", "`sendInitialEvents=true` may be set together with `watch=true`. In that case, the watch stream will begin with synthetic events to produce the current state of objects in the collection."),
    "timeoutSeconds": ("integer", "Timeout for the list/watch call. This limits the duration of the call, regardless of any activity or inactivity."),
    "watch": ("boolean", "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications."),
    "pretty": ("string", "If 'true', then the output is pretty printed. Defaults to 'false' unless the user-agent indicates a browser or command-line HTTP tool (curl and wget)."),
}
_LIST_PARAMS = ("allowWatchBookmarks", "continue", "fieldSelector", "labelSelector", "limit", "resourceVersion",
                "resourceVersionMatch", "sendInitialEvents", "timeoutSeconds", "watch")
_DELETE_PARAMS = ("dryRun", "gracePeriodSeconds", "ignoreStoreReadErrorWithClusterBreakingPotential",
                  "orphanDependents", "propagationPolicy")
_WRITE_PARAMS = ("dryRun", "fieldManager", "fieldValidation")
_OPERATION_PARAMS = {
    "list": _LIST_PARAMS,
    "watch": _LIST_PARAMS,
    "watchlist": _LIST_PARAMS,
    "deletecollection": ("continue",) + _DELETE_PARAMS[:1] + ("fieldSelector",) + _DELETE_PARAMS[1:3] + (
        "labelSelector", "limit") + _DELETE_PARAMS[3:] + ("resourceVersion", "resourceVersionMatch", "sendInitialEvents", "timeoutSeconds"),
    "post": _WRITE_PARAMS,
    "put": _WRITE_PARAMS,
    "patch": _WRITE_PARAMS + ("force",),
    "delete": _DELETE_PARAMS,
    "get": (),
}


def _query_param(name: str) -> dict[str, Any]:
    kind, description = _QUERY[name]
    param: dict[str, Any] = {"name": name, "in": "query", "description": description, "schema": {"type": kind}}
    if kind == "string" or kind == "boolean":
        param["schema"]["uniqueItems"] = True
    return param


def _path_param(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "description": description, "required": True, "schema": {"type": "string", "uniqueItems": True}}


_NAMESPACE_PARAM = _path_param("namespace", "object name and auth scope, such as for teams and projects")


# -- operations ----------------------------------------------------------------------------------


def _camel_group(group: str) -> str:
    """Upstream's operationId group part: "" -> Core, "coordination.k8s.io" -> Coordination,
    "rbac.authorization.k8s.io" -> RbacAuthorization."""
    if not group:
        return "Core"
    trimmed = group.removesuffix(".k8s.io")
    return "".join(part[:1].upper() + part[1:] for part in trimmed.replace("-", ".").split("."))


def _gvk(group: str, version: str, kind: str) -> dict[str, str]:
    return {"group": group, "kind": kind, "version": version}


class _Op(NamedTuple):
    """One operation before rendering: the HTTP method, action, operationId and schemas."""

    method: str
    action: str
    operation_id: str
    gvk: dict[str, str]
    request: str | None  # schema name of the body
    response: str | None  # schema name of the 200 answer; None for a plain string (log)
    description: str


class _PathItem(NamedTuple):
    path: str
    params: tuple[dict[str, Any], ...]
    ops: tuple[_Op, ...]


def _subresource_schema(resource: ResourceDef, kind: str) -> tuple[str, dict[str, str]]:
    """The schema and group-version-kind of a subresource's kind (Scale is autoscaling/v1,
    Eviction policy/v1): the resource's own group-version first, then any that has it."""
    try:
        return schema_name_for(resource.group, resource.version, kind), _gvk(resource.group, resource.version, kind)
    except LookupError:
        pass
    for name, schema in sorted(schemas().items()):
        for gvk in schema.get("x-kubernetes-group-version-kind", ()):
            if gvk["kind"] == kind and len(schema["x-kubernetes-group-version-kind"]) == 1:
                return name, _gvk(gvk["group"], gvk["version"], kind)
    raise LookupError(f"no schema for the {kind} subresource of {resource.plural}")


def _resource_paths(resource: ResourceDef) -> Iterator[_PathItem]:
    gv = f"{_camel_group(resource.group)}{resource.version[:1].upper()}{resource.version[1:]}"
    root = f"/api/{resource.version}" if not resource.group else f"/apis/{resource.group}/{resource.version}"
    kind, plural = resource.kind, resource.plural
    gvk = _gvk(resource.group, resource.version, kind)
    obj = schema_name_for(resource.group, resource.version, kind)
    verbs = set(resource.verbs)
    # A create-only resource (bindings) has no list kind.
    lst = schema_name_for(resource.group, resource.version, resource.list_kind) if "list" in verbs else ""
    scoped = "Namespaced" if resource.namespaced else ""
    base = f"{root}/namespaces/{{namespace}}/{plural}" if resource.namespaced else f"{root}/{plural}"
    scope_params = (_NAMESPACE_PARAM,) if resource.namespaced else ()
    pretty = _query_param("pretty")
    name_param = _path_param("name", f"name of the {kind}")

    collection = []
    if "list" in verbs:
        collection.append(_Op("get", "list", f"list{gv}{scoped}{kind}", gvk, None, lst, f"list or watch objects of kind {kind}"))
    if "create" in verbs:
        collection.append(_Op("post", "post", f"create{gv}{scoped}{kind}", gvk, obj, obj, f"create a {kind}"))
    if "deletecollection" in verbs:
        collection.append(_Op("delete", "deletecollection", f"delete{gv}Collection{scoped}{kind}", gvk, DELETE_OPTIONS, STATUS, f"delete collection of {kind}"))
    if collection:
        yield _PathItem(base, scope_params + (pretty,), tuple(collection))

    item = []
    if "get" in verbs:
        item.append(_Op("get", "get", f"read{gv}{scoped}{kind}", gvk, None, obj, f"read the specified {kind}"))
    if "update" in verbs:
        item.append(_Op("put", "put", f"replace{gv}{scoped}{kind}", gvk, obj, obj, f"replace the specified {kind}"))
    if "delete" in verbs:
        deleted = obj if resource.return_deleted_object and resource.documents_deleted_object else STATUS
        item.append(_Op("delete", "delete", f"delete{gv}{scoped}{kind}", gvk, DELETE_OPTIONS, deleted, f"delete a {kind}"))
    if "patch" in verbs:
        item.append(_Op("patch", "patch", f"patch{gv}{scoped}{kind}", gvk, PATCH, obj, f"partially update the specified {kind}"))
    if item:
        yield _PathItem(f"{base}/{{name}}", (name_param,) + scope_params + (pretty,), tuple(item))

    for sub, sub_kind in resource.subresources:
        sub_schema, sub_gvk = (obj, gvk) if sub_kind == kind else _subresource_schema(resource, sub_kind)
        title = sub[:1].upper() + sub[1:]
        ops = []
        for method in _SUBRESOURCE_VERBS.get(sub, ("get", "put", "patch")):
            if sub == "log":
                ops.append(_Op("get", "get", f"read{gv}{scoped}{kind}Log", gvk, None, None, f"read log of the specified {kind}"))
            elif method == "get":
                ops.append(_Op("get", "get", f"read{gv}{scoped}{kind}{title}", sub_gvk, None, sub_schema, f"read {sub} of the specified {kind}"))
            elif method == "put":
                ops.append(_Op("put", "put", f"replace{gv}{scoped}{kind}{title}", sub_gvk, sub_schema, sub_schema, f"replace {sub} of the specified {kind}"))
            elif method == "patch":
                ops.append(_Op("patch", "patch", f"patch{gv}{scoped}{kind}{title}", sub_gvk, PATCH, sub_schema, f"partially update {sub} of the specified {kind}"))
            else:
                ops.append(_Op("post", "post", f"create{gv}{scoped}{kind}{title}", sub_gvk, sub_schema, sub_schema, f"create {sub} of a {kind}"))
        name_desc = _path_param("name", f"name of the {sub_kind}" if sub_kind != kind else f"name of the {kind}")
        yield _PathItem(f"{base}/{{name}}/{sub}", (name_desc,) + scope_params + (pretty,), tuple(ops))

    if "list" in verbs and resource.namespaced:
        yield _PathItem(f"{root}/{plural}", (pretty,), (
            _Op("get", "list", f"list{gv}{kind}ForAllNamespaces", gvk, None, lst, f"list or watch objects of kind {kind}"),))
    if "watch" in verbs:
        watch_base = f"{root}/watch/namespaces/{{namespace}}/{plural}" if resource.namespaced else f"{root}/watch/{plural}"
        yield _PathItem(watch_base, scope_params + (pretty,), (
            _Op("get", "watchlist", f"watch{gv}{scoped}{kind}List", gvk, None, WATCH_EVENT, f"watch individual changes to a list of {kind}. deprecated: use the 'watch' parameter with a list operation instead."),))
        yield _PathItem(f"{watch_base}/{{name}}", (name_param,) + scope_params + (pretty,), (
            _Op("get", "watch", f"watch{gv}{scoped}{kind}", gvk, None, WATCH_EVENT, f"watch changes to an object of kind {kind}. deprecated: use the 'watch' parameter with a list operation instead, filtered to a single item with the 'fieldSelector' parameter."),))
        if resource.namespaced:
            yield _PathItem(f"{root}/watch/{plural}", (pretty,), (
                _Op("get", "watchlist", f"watch{gv}{kind}ListForAllNamespaces", gvk, None, WATCH_EVENT, f"watch individual changes to a list of {kind}. deprecated: use the 'watch' parameter with a list operation instead."),))


def _group_version_key(resource: ResourceDef) -> str:
    return f"api/{resource.version}" if not resource.group else f"apis/{resource.group}/{resource.version}"


# -- rendering -----------------------------------------------------------------------------------

_UNAUTHORIZED = {"description": "Unauthorized"}


def _v3_operation(op: _Op, params: tuple[str, ...]) -> dict[str, Any]:
    rendered: dict[str, Any] = {"tags": [], "description": op.description, "operationId": op.operation_id}
    if params:
        rendered["parameters"] = [_query_param(p) for p in params]
    if op.request is not None:
        types = PATCH_TYPES if op.method == "patch" else ("*/*",)
        body: dict[str, Any] = {"content": {t: {"schema": {"$ref": V3_PREFIX + op.request}} for t in types}}
        if op.method != "delete":
            body["required"] = True
        rendered["requestBody"] = body
    if op.response is None:
        content = {"text/plain": {"schema": {"type": "string"}}}
    else:
        types = (V3_JSON, "application/json;stream=watch") if op.action in ("watch", "watchlist") or op.action == "list" else (V3_JSON,)
        content = {t: {"schema": {"$ref": V3_PREFIX + op.response}} for t in types}
    responses: dict[str, Any] = {"200": {"description": "OK", "content": content}}
    if op.method == "post":
        responses["201"] = {"description": "Created", "content": content}
        responses["202"] = {"description": "Accepted", "content": content}
    elif op.method == "put" or op.method == "patch":
        responses["201"] = {"description": "Created", "content": content}
    elif op.action == "delete":
        responses["202"] = {"description": "Accepted", "content": content}
    responses["401"] = _UNAUTHORIZED
    rendered["responses"] = responses
    rendered["x-kubernetes-action"] = op.action
    rendered["x-kubernetes-group-version-kind"] = op.gvk
    return rendered


def _refs_closure(roots: set[str]) -> dict[str, Any]:
    defs = schemas()
    found: dict[str, Any] = {}
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in found:
            continue
        schema = defs[name]
        found[name] = schema
        todo.extend(_refs(schema))
    return {name: found[name] for name in sorted(found)}


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            yield ref.rsplit("/", 1)[-1]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _info() -> dict[str, str]:
    return {"title": "Kubernetes", "version": f"v{kubernetes_version()}"}


_SECURITY = {"securitySchemes": {"BearerToken": {"type": "apiKey", "description": "Bearer Token authentication", "name": "authorization", "in": "header"}}}


def _v3(paths: dict[str, Any], roots: set[str]) -> dict[str, Any]:
    components = {"schemas": _refs_closure(roots), **_SECURITY}
    return {"openapi": "3.0.0", "info": _info(), "paths": paths, "components": components}


def _discovery_op(operation_id: str, schema: str) -> dict[str, Any]:
    content = {V3_JSON: {"schema": {"$ref": V3_PREFIX + _META + schema}}}
    return {"get": {"tags": [], "description": "get available resources" if schema == "APIResourceList" else "get available API versions",
                    "operationId": operation_id, "responses": {"200": {"description": "OK", "content": content}, "401": _UNAUTHORIZED}}}


def _build_v3(registry: Registry) -> dict[str, Any]:
    """Every v3 document by index path (``api/v1``, ``apis/apps/v1``, ``api``, ``apis``, ``apis/apps``)."""
    by_gv: dict[str, list[ResourceDef]] = {}
    for resource in registry:
        by_gv.setdefault(_group_version_key(resource), []).append(resource)
    docs: dict[str, dict[str, Any]] = {
        "api": _v3({"/api/": _discovery_op("getCoreAPIVersions", "APIVersions")}, {_META + "APIVersions"}),
        "apis": _v3({"/apis/": _discovery_op("getAPIVersions", "APIGroupList")}, {_META + "APIGroupList"}),
    }
    for key in sorted(by_gv):
        resources = sorted(by_gv[key], key=lambda r: r.plural)
        first = resources[0]
        gv = f"{_camel_group(first.group)}{first.version[:1].upper()}{first.version[1:]}"
        paths: dict[str, Any] = {f"/{key}/": _discovery_op(f"get{gv}APIResources", "APIResourceList")}
        roots = {_META + "APIResourceList"}
        for resource in resources:
            for item in _resource_paths(resource):
                rendered: dict[str, Any] = {}
                for op in item.ops:
                    rendered[op.method] = _v3_operation(op, _OPERATION_PARAMS[op.action])
                    roots.update(name for name in (op.request, op.response) if name)
                rendered["parameters"] = list(item.params)
                paths[item.path] = rendered
        docs[key] = _v3(dict(sorted(paths.items())), roots)
        if first.group:
            group_key = f"apis/{first.group}"
            camel = _camel_group(first.group)
            docs[group_key] = _v3({f"/{group_key}/": _discovery_op(f"get{camel}APIGroup", "APIGroup")}, {_META + "APIGroup"})
    return docs


def _to_v2_schema(node: Any) -> Any:
    """An OpenAPI v3 schema as Swagger 2.0 writes it: refs under #/definitions/, and a ref
    with siblings as a plain $ref (v2 ignores ref siblings; upstream keeps the description)."""
    if isinstance(node, list):
        return [_to_v2_schema(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: _to_v2_schema(v) for k, v in node.items()}
    ref = out.get("$ref")
    if isinstance(ref, str):
        out["$ref"] = V2_PREFIX + ref[len(V3_PREFIX):] if ref.startswith(V3_PREFIX) else ref
    all_of = out.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1 and "$ref" in all_of[0]:
        out.pop("allOf")
        out = {"$ref": all_of[0]["$ref"], **out}
    return out


def _v2_param(param: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in param.items() if k != "schema"}
    out.update(param["schema"])
    return out


def _build_v2(registry: Registry) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    definitions: dict[str, Any] = {}
    for key, doc in sorted(_documents(registry).v3_objects.items()):
        for path, item in doc["paths"].items():
            rendered: dict[str, Any] = {}
            for method, op in item.items():
                if method == "parameters":
                    rendered["parameters"] = [_v2_param(p) for p in op]
                    continue
                converted: dict[str, Any] = {k: v for k, v in op.items() if k not in ("requestBody", "responses", "parameters")}
                params = [_v2_param(p) for p in op.get("parameters", ())]
                body = op.get("requestBody")
                if body is not None:
                    types = list(body["content"])
                    schema = body["content"][types[0]]["schema"]
                    params.insert(0, {"name": "body", "in": "body", "required": bool(body.get("required")), "schema": _to_v2_schema(schema)})
                    converted["consumes"] = types
                if params:
                    converted["parameters"] = params
                responses = {}
                produces: list[str] = []
                for code, response in op["responses"].items():
                    out = {"description": response["description"]}
                    content = response.get("content")
                    if content:
                        for media in content:
                            if media not in produces:
                                produces.append(media)
                        out["schema"] = _to_v2_schema(next(iter(content.values()))["schema"])
                    responses[code] = out
                converted["produces"] = produces
                converted["schemes"] = ["https"]
                converted["responses"] = responses
                rendered[method] = converted
            paths[path] = rendered
        for name, schema in doc["components"]["schemas"].items():
            definitions[name] = _to_v2_schema(schema)
    return {
        "swagger": "2.0",
        "info": _info(),
        "paths": dict(sorted(paths.items())),
        "definitions": dict(sorted(definitions.items())),
        "securityDefinitions": {"BearerToken": {"description": "Bearer Token authentication", "type": "apiKey", "name": "authorization", "in": "header"}},
        "security": [{"BearerToken": []}],
    }


# -- cache and public API ------------------------------------------------------------------------


class _Documents:
    def __init__(self, registry: Registry) -> None:
        self.size = len(registry)
        self.v3_objects = _build_v3(registry)
        self.v3 = {key: _document(doc) for key, doc in self.v3_objects.items()}
        index = {key: {"serverRelativeURL": f"/openapi/v3/{key}?hash={doc.etag}"} for key, doc in sorted(self.v3.items())}
        self.index = _document({"paths": index})
        self._v2_object: dict[str, Any] | None = None
        self._v2: Document | None = None
        self._v2_protobuf: Document | None = None
        self._registry = weakref.ref(registry)

    def _v2_document(self, registry: Registry) -> dict[str, Any]:
        if self._v2_object is None:
            self._v2_object = _build_v2(registry)
        return self._v2_object

    def v2(self, registry: Registry) -> Document:
        if self._v2 is None:
            self._v2 = _document(self._v2_document(registry))
        return self._v2

    def v2_protobuf(self, registry: Registry) -> Document:
        if self._v2_protobuf is None:
            body = openapi_v2_proto.encode_document(self._v2_document(registry))
            self._v2_protobuf = Document(body, hashlib.sha512(body).hexdigest().upper())
        return self._v2_protobuf


_CACHE: "weakref.WeakKeyDictionary[Registry, _Documents]" = weakref.WeakKeyDictionary()


def _documents(registry: Registry) -> _Documents:
    docs = _CACHE.get(registry)
    if docs is None or docs.size != len(registry):  # a registration after startup rebuilds
        docs = _Documents(registry)
        _CACHE[registry] = docs
    return docs


def openapi_v3_index(registry: Registry) -> Document:
    """``GET /openapi/v3``."""
    return _documents(registry).index


def openapi_v3_document(registry: Registry, path: str) -> Document | None:
    """``GET /openapi/v3/<path>`` (``api/v1``, ``apis/apps/v1``, ``api``, ``apis``,
    ``apis/apps``); None when there is no such document (404)."""
    return _documents(registry).v3.get(path.strip("/"))


def openapi_v2(registry: Registry) -> Document:
    """``GET /openapi/v2``, Swagger 2.0 JSON."""
    return _documents(registry).v2(registry)


def _accepts_json(accept: str | None) -> bool:
    if not accept:
        return True
    for clause in accept.split(","):
        media = clause.split(";", 1)[0].strip().lower()
        if media in ("application/json", "application/*", "*/*"):
            return True
    return False


def _prefers_protobuf(accept: str | None) -> bool:
    """True when the first media type of ``accept`` this server can answer ``/openapi/v2``
    with is the gnostic protobuf (kubectl sends only that one)."""
    for clause in (accept or "").split(","):
        media = clause.split(";", 1)[0].strip().lower()
        if media in openapi_v2_proto.MEDIA_TYPES:
            return True
        if media in ("application/json", "application/*", "*/*"):
            return False
    return False


def openapi_response(
    registry: Registry, path: str, query: dict[str, str] | None = None, accept: str | None = None, if_none_match: str | None = None
) -> tuple[int, list[tuple[str, str]], bytes] | None:
    """Serve ``/openapi/v2``, ``/openapi/v3`` or ``/openapi/v3/<doc>`` as kube-openapi's
    handlers do: ``(status, headers, body)``, or None for a path with no document (404).

    JSON, or protobuf for ``/openapi/v2`` when the Accept header prefers it; an Accept
    naming neither gets 406.  ``ETag`` always;
    ``If-None-Match`` with the current ETag gets 304; a ``?hash=`` that is current adds
    the immutable caching headers, a stale one is redirected (301) to the current URL."""
    trimmed = path.rstrip("/")
    content_type = "application/json"
    if trimmed == "/openapi/v2":
        if _prefers_protobuf(accept):
            doc = _documents(registry).v2_protobuf(registry)
            content_type = openapi_v2_proto.CONTENT_TYPE
        else:
            doc = openapi_v2(registry)
        key = None
    elif trimmed == "/openapi/v3":
        doc = openapi_v3_index(registry)
        key = None
    elif trimmed.startswith("/openapi/v3/"):
        key = trimmed[len("/openapi/v3/"):]
        doc = openapi_v3_document(registry, key)
        if doc is None:
            return None
    else:
        return None
    if content_type == "application/json" and not _accepts_json(accept):
        return 406, [("content-type", "text/plain; charset=utf-8")], b""
    etag = f'"{doc.etag}"'
    headers = [("content-type", content_type), ("etag", etag)]
    if key is not None:
        headers.append(("vary", "Accept"))
        requested = (query or {}).get("hash", "")
        if requested and requested != doc.etag:
            return 301, [("location", f"/openapi/v3/{key}?hash={doc.etag}")], b""
        if requested:
            headers.append(("cache-control", "public, immutable"))
    if if_none_match and (if_none_match.strip() == etag or if_none_match.strip() == "*"):
        return 304, headers[1:], b""
    return 200, headers, doc.body
