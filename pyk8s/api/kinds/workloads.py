"""apps/v1 deployments and replicasets, batch/v1 jobs, and the autoscaling/v1 Scale their
``scale`` subresource serves.

As upstream pkg/apis/{apps,batch}/v1/defaults.go, pkg/apis/{apps,batch}/validation and the
strategies in pkg/registry/{apps,batch}: a controller's selector is required and must
select its template's labels, replicas and friends are non-negative, and the pod template
is defaulted and validated as a pod spec is.
"""

from __future__ import annotations

from typing import Any

from pyk8s.api.errors import Cause, forbidden, invalid_value, not_supported, required
from pyk8s.api.kinds.pods import default_pod_spec, validate_pod_spec
from pyk8s.api.registry import ResourceDef
from pyk8s.api.validation import validate_labels, validate_object_meta

__all__ = ["DEPLOYMENTS", "REPLICA_SETS", "JOBS", "selector_string", "selector_matches"]

Obj = dict[str, Any]

_SELECTOR_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


# -- label selectors (metav1.LabelSelector) --------------------------------------------------


def selector_matches(selector: Obj, labels: dict[str, str]) -> bool:
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or ():
        key, op, values = expr.get("key", ""), expr.get("operator", ""), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def selector_string(selector: Obj) -> str:
    """metav1.FormatLabelSelector's text (for Scale's status.selector): sorted requirements."""
    parts: list[tuple[str, str]] = []
    for key, value in (selector.get("matchLabels") or {}).items():
        parts.append((key, f"{key}={value}"))
    for expr in selector.get("matchExpressions") or ():
        key, op, values = expr.get("key", ""), expr.get("operator", ""), sorted(expr.get("values") or [])
        if op == "In":
            parts.append((key, f"{key} in ({','.join(values)})"))
        elif op == "NotIn":
            parts.append((key, f"{key} notin ({','.join(values)})"))
        elif op == "Exists":
            parts.append((key, key))
        elif op == "DoesNotExist":
            parts.append((key, f"!{key}"))
    return ",".join(text for _key, text in sorted(parts))


def _validate_selector(selector: Obj | None, template_labels: dict[str, str], path: str) -> list[Cause]:
    causes: list[Cause] = []
    if not selector or not (selector.get("matchLabels") or selector.get("matchExpressions")):
        # ValidateDeploymentSpec: an empty selector would select every pod.
        return [required(path)] if not selector else [invalid_value(path, "", "empty selector is invalid for deployment")]
    causes.extend(validate_labels(selector.get("matchLabels") or {}, f"{path}.matchLabels"))
    for index, expr in enumerate(selector.get("matchExpressions") or ()):
        op = expr.get("operator", "")
        if op not in _SELECTOR_OPERATORS:
            causes.append(not_supported(f"{path}.matchExpressions[{index}].operator", op, _SELECTOR_OPERATORS))
        elif op in ("In", "NotIn") and not expr.get("values"):
            causes.append(required(f"{path}.matchExpressions[{index}].values", "must be specified when `operator` is 'In' or 'NotIn'"))
        elif op in ("Exists", "DoesNotExist") and expr.get("values"):
            causes.append(forbidden(f"{path}.matchExpressions[{index}].values", "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
    if not causes and not selector_matches(selector, template_labels):
        causes.append(
            invalid_value("spec.template.metadata.labels", template_labels, "`selector` does not match template `labels`")
        )
    return causes


def _non_negative(spec: Obj, key: str, path: str) -> list[Cause]:
    value = spec.get(key)
    if value is not None and value < 0:
        return [invalid_value(f"{path}.{key}", value, "must be greater than or equal to 0")]
    return []


def _default_template(spec: Obj) -> None:
    template = spec.get("template")
    if not isinstance(template, dict):
        template = spec["template"] = {}
    template.setdefault("metadata", {})
    pod_spec = template.get("spec")
    if not isinstance(pod_spec, dict):
        pod_spec = template["spec"] = {}
    default_pod_spec(pod_spec)


def _validate_template(spec: Obj, restart_policies: tuple[str, ...] = ("Always",)) -> list[Cause]:
    template = spec.get("template") or {}
    meta = template.get("metadata") or {}
    causes = validate_labels(meta.get("labels") or {}, "spec.template.metadata.labels")
    pod_spec = template.get("spec") or {}
    causes.extend(validate_pod_spec(pod_spec, "spec.template.spec"))
    policy = pod_spec.get("restartPolicy", "")
    if policy in ("Always", "OnFailure", "Never") and policy not in restart_policies:
        causes.append(not_supported("spec.template.spec.restartPolicy", policy, restart_policies))
    return causes


def _prepare_create(obj: Obj) -> None:
    """PrepareForCreate of the apps and batch strategies: status starts empty."""
    obj["status"] = {}


def _keep_spec_and_labels(new: Obj, old: Obj) -> None:
    """deploymentStatusStrategy / replicaSetStatusStrategy: spec and labels stay."""
    if "spec" in old:
        new["spec"] = old["spec"]
    old_labels = (old.get("metadata") or {}).get("labels")
    if old_labels is None:
        new["metadata"].pop("labels", None)
    else:
        new["metadata"]["labels"] = old_labels


def _selector_immutable(new: Obj, old: Obj) -> list[Cause]:
    new_selector = (new.get("spec") or {}).get("selector")
    if new_selector != (old.get("spec") or {}).get("selector"):
        return [invalid_value("spec.selector", new_selector, "field is immutable")]
    return []


# -- deployments -----------------------------------------------------------------------------

_STRATEGIES = ("Recreate", "RollingUpdate")


def default_deployment(deployment: Obj) -> None:
    spec = deployment.get("spec")
    if not isinstance(spec, dict):
        spec = deployment["spec"] = {}
    spec.setdefault("replicas", 1)
    strategy = spec.get("strategy")
    if not isinstance(strategy, dict):
        strategy = spec["strategy"] = {}
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.get("rollingUpdate")
        if not isinstance(rolling, dict):
            rolling = strategy["rollingUpdate"] = {}
        rolling.setdefault("maxUnavailable", "25%")
        rolling.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    _default_template(spec)


def validate_deployment(deployment: Obj) -> list[Cause]:
    causes = validate_object_meta(deployment["metadata"], namespaced=True)
    spec = deployment.get("spec") or {}
    for key in ("replicas", "minReadySeconds", "revisionHistoryLimit"):
        causes.extend(_non_negative(spec, key, "spec"))
    template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    causes.extend(_validate_selector(spec.get("selector"), template_labels, "spec.selector"))
    causes.extend(_validate_template(spec))
    strategy = spec.get("strategy") or {}
    if strategy.get("type") not in _STRATEGIES:
        causes.append(not_supported("spec.strategy.type", strategy.get("type", ""), _STRATEGIES))
    elif strategy["type"] == "Recreate" and strategy.get("rollingUpdate"):
        causes.append(forbidden("spec.strategy.rollingUpdate", "may not be specified when strategy `type` is 'Recreate'"))
    deadline = spec.get("progressDeadlineSeconds")
    if deadline is not None and deadline <= spec.get("minReadySeconds", 0):
        causes.append(invalid_value("spec.progressDeadlineSeconds", deadline, "must be greater than minReadySeconds"))
    return causes


DEPLOYMENTS = ResourceDef(
    group="apps",
    version="v1",
    kind="Deployment",
    plural="deployments",
    singular="deployment",
    namespaced=True,
    default=default_deployment,
    validate=validate_deployment,
    validate_update=lambda new, old: validate_deployment(new) + _selector_immutable(new, old),
    short_names=("deploy",),
    categories=("all",),
    subresources=(("scale", "Scale"), ("status", "Deployment")),
    prepare_create=_prepare_create,
    prepare_status_update=_keep_spec_and_labels,
)

# -- replicasets -----------------------------------------------------------------------------


def default_replica_set(rs: Obj) -> None:
    spec = rs.get("spec")
    if not isinstance(spec, dict):
        spec = rs["spec"] = {}
    spec.setdefault("replicas", 1)
    _default_template(spec)
    # ReplicaSetStatus.replicas has no omitempty: upstream always writes it, and strict
    # clients (the official Python client) require it.  Deployment and Job statuses are
    # all omitempty, so an empty status stays empty there.
    status = rs.get("status")
    if not isinstance(status, dict):
        status = rs["status"] = {}
    status.setdefault("replicas", 0)


def validate_replica_set(rs: Obj) -> list[Cause]:
    causes = validate_object_meta(rs["metadata"], namespaced=True)
    spec = rs.get("spec") or {}
    for key in ("replicas", "minReadySeconds"):
        causes.extend(_non_negative(spec, key, "spec"))
    template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    causes.extend(_validate_selector(spec.get("selector"), template_labels, "spec.selector"))
    causes.extend(_validate_template(spec))
    return causes


REPLICA_SETS = ResourceDef(
    group="apps",
    version="v1",
    kind="ReplicaSet",
    plural="replicasets",
    singular="replicaset",
    namespaced=True,
    default=default_replica_set,
    validate=validate_replica_set,
    validate_update=lambda new, old: validate_replica_set(new) + _selector_immutable(new, old),
    short_names=("rs",),
    categories=("all",),
    subresources=(("scale", "Scale"), ("status", "ReplicaSet")),
    prepare_create=_prepare_create,
    prepare_status_update=_keep_spec_and_labels,
)

# -- jobs ------------------------------------------------------------------------------------

_COMPLETION_MODES = ("Indexed", "NonIndexed")
_JOB_UID_LABEL = "batch.kubernetes.io/controller-uid"
_JOB_NAME_LABEL = "batch.kubernetes.io/job-name"


def default_job(job: Obj) -> None:
    spec = job.get("spec")
    if not isinstance(spec, dict):
        spec = job["spec"] = {}
    # SetDefaults_Job: both unset -> 1 and 1; only parallelism set -> completions stay unset
    # (a work queue); parallelism defaults to 1.
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
    spec.setdefault("parallelism", 1)
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")
    _default_template(spec)
    # SetDefaults_Job: a job without labels takes its template's.  Go assigns the map
    # itself, so the labels generateSelector adds to the template on create land in the
    # job's labels too; sharing the dict does the same here.
    template_labels = spec["template"]["metadata"].get("labels")
    meta = job.setdefault("metadata", {})
    if template_labels and not meta.get("labels"):
        meta["labels"] = template_labels


def generate_job_selector(job: Obj) -> None:
    """Upstream generateSelector, which jobStrategy.Validate runs once the uid is stamped:
    unless the user picked a selector (manualSelector), the job selects its pods by its own
    uid, and the template carries the uid and job-name labels (new and legacy keys)."""
    spec = job["spec"]
    if spec.get("manualSelector"):
        return
    meta = job["metadata"]
    uid, name = meta["uid"], meta.get("name", "")
    template_meta = spec["template"]["metadata"]
    labels = template_meta.get("labels")
    if not isinstance(labels, dict):
        labels = template_meta["labels"] = {}
    labels.setdefault(_JOB_UID_LABEL, uid)
    labels.setdefault(_JOB_NAME_LABEL, name)
    labels.setdefault("controller-uid", uid)
    labels.setdefault("job-name", name)
    if not meta.get("labels"):
        # Upstream applies SetDefaults_Job again when it reads the stored job back, so a job
        # created without labels answers with its (now generated) template labels.
        meta["labels"] = dict(labels)
    selector = spec.get("selector")
    if not isinstance(selector, dict):
        selector = spec["selector"] = {}
    match_labels = selector.get("matchLabels")
    if not isinstance(match_labels, dict):
        match_labels = selector["matchLabels"] = {}
    match_labels.setdefault(_JOB_UID_LABEL, uid)


def _generated_selector_errors(job: Obj) -> list[Cause]:
    """ValidateGeneratedSelector: without manualSelector the selector is exactly the
    generated one."""
    spec = job.get("spec") or {}
    if spec.get("manualSelector"):
        return []
    uid = job["metadata"].get("uid", "")
    if spec.get("selector") != {"matchLabels": {_JOB_UID_LABEL: uid}}:
        return [invalid_value("spec.selector", spec.get("selector"), "`selector` not auto-generated")]
    return []


def validate_job(job: Obj) -> list[Cause]:
    causes = validate_object_meta(job["metadata"], namespaced=True)
    spec = job.get("spec") or {}
    for key in ("parallelism", "completions", "backoffLimit", "ttlSecondsAfterFinished"):
        causes.extend(_non_negative(spec, key, "spec"))
    deadline = spec.get("activeDeadlineSeconds")
    if deadline is not None and deadline <= 0:
        causes.append(invalid_value("spec.activeDeadlineSeconds", deadline, "must be greater than 0"))
    mode = spec.get("completionMode", "")
    if mode not in _COMPLETION_MODES:
        causes.append(not_supported("spec.completionMode", mode, _COMPLETION_MODES))
    elif mode == "Indexed" and spec.get("completions") is None:
        causes.append(required("spec.completions", "when completion mode is Indexed"))
    template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    causes.extend(_validate_selector(spec.get("selector"), template_labels, "spec.selector"))
    causes.extend(_validate_template(spec, ("OnFailure", "Never")))
    return causes


def validate_job_create(job: Obj) -> list[Cause]:
    generate_job_selector(job)
    return validate_job(job) + _generated_selector_errors(job)


def validate_job_update(new: Obj, old: Obj) -> list[Cause]:
    causes = validate_job(new) + _selector_immutable(new, old)
    new_spec, old_spec = new.get("spec") or {}, old.get("spec") or {}
    for key in ("completions", "completionMode", "template"):
        if key == "completions" and new_spec.get("completionMode") == "Indexed":
            continue  # elastic indexed jobs may change completions with parallelism
        if new_spec.get(key) != old_spec.get(key):
            causes.append(invalid_value(f"spec.{key}", new_spec.get(key), "field is immutable"))
    return causes


JOBS = ResourceDef(
    group="batch",
    version="v1",
    kind="Job",
    plural="jobs",
    singular="job",
    namespaced=True,
    default=default_job,
    validate=validate_job_create,
    validate_update=validate_job_update,
    categories=("all",),
    subresources=(("status", "Job"),),
    prepare_create=_prepare_create,
)
