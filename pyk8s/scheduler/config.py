"""KubeSchedulerConfiguration-like profiles, expanded and validated at construction.

Accepted shape (a dict or YAML text), as upstream's kubescheduler.config.k8s.io/v1::

    percentageOfNodesToScore: 0
    profiles:
    - schedulerName: default-scheduler
      percentageOfNodesToScore: 50          # optional, overrides the global value
      plugins:
        multiPoint: {enabled: [{name, weight}], disabled: [{name}]}   # name "*" disables all
        filter / score / preFilter / postFilter / preScore / reserve / bind / queueSort: same
      pluginConfig:
      - {name: NodeResourcesFit, args: {scoringStrategy: {type, resources, requestedToCapacityRatio: {shape}}}}
      - {name: PodTopologySpread, args: {defaultingType: System | List,
                                         defaultConstraints: [{maxSkew, topologyKey, whenUnsatisfiable}]}}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyk8s.api.selectors import qualified_name_error

from .framework import EXTENSION_POINTS, Profile, ProfileError, Registry
from .plugins import DEFAULT_MULTIPOINT, default_registry

DEFAULT_SCHEDULER_NAME = "default-scheduler"
POINTS = ("queueSort",) + tuple(EXTENSION_POINTS)
FIT_STRATEGIES = ("LeastAllocated", "MostAllocated", "RequestedToCapacityRatio")
DEFAULT_RESOURCES = ({"name": "cpu", "weight": 1}, {"name": "memory", "weight": 1})
# Upstream's systemDefaultConstraints (defaultingType System), for pods without constraints
# of their own that a Service or their ReplicaSet selects (see _default_selector.py).
SYSTEM_DEFAULT_CONSTRAINTS = (
    {"maxSkew": 3, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway"},
    {"maxSkew": 5, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway"},
)
DEFAULT_SHAPE = ({"utilization": 0, "score": 10}, {"utilization": 100, "score": 0})


def _implements(plugin: type, point: str) -> bool:
    if point == "queueSort":
        return hasattr(plugin, "sort_key")
    return issubclass(plugin, EXTENSION_POINTS[point])


def _entries(section: Mapping | None, key: str) -> list[dict]:
    entries = (section or {}).get(key) or []
    for entry in entries:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
            raise ProfileError(f"plugin entries need a name: {entry!r}")
    return list(entries)


def _weight(entry: Mapping, default: int, name: str) -> int:
    if "weight" not in entry or entry["weight"] is None:
        return default
    weight = entry["weight"]
    if not isinstance(weight, int) or weight <= 0:
        raise ProfileError(f"score plugin {name!r} has weight {weight!r}: weights must be positive integers (disable the plugin instead)")
    return weight


def _check_resources(resources, plugin: str) -> list[dict]:
    out = []
    for r in resources:
        if not isinstance(r, Mapping) or not r.get("name"):
            raise ProfileError(f"{plugin}: resources need a name: {r!r}")
        weight = r.get("weight", 1)
        if not isinstance(weight, int) or not 1 <= weight <= 100:
            raise ProfileError(f"{plugin}: resource {r['name']} weight must be in 1..100, got {weight!r}")
        out.append({"name": r["name"], "weight": weight})
    return out


def _validate_args(name: str, args: Mapping[str, Any]) -> dict:
    args = dict(args or {})
    if name == "NodeResourcesFit":
        strategy = dict(args.get("scoringStrategy") or {})
        kind = strategy.get("type", "LeastAllocated")
        if kind not in FIT_STRATEGIES:
            raise ProfileError(f"NodeResourcesFit: scoringStrategy.type {kind!r} is not one of {', '.join(FIT_STRATEGIES)}")
        strategy["type"] = kind
        strategy["resources"] = _check_resources(strategy.get("resources") or DEFAULT_RESOURCES, name)
        if kind == "RequestedToCapacityRatio":
            shape = list((strategy.get("requestedToCapacityRatio") or {}).get("shape") or DEFAULT_SHAPE)
            last = -1
            for point in shape:
                u, s = point.get("utilization"), point.get("score")
                if not isinstance(u, int) or not 0 <= u <= 100 or u <= last:
                    raise ProfileError("NodeResourcesFit: shape utilization must increase within 0..100")
                if not isinstance(s, int) or not 0 <= s <= 10:
                    raise ProfileError("NodeResourcesFit: shape score must be within 0..10")
                last = u
            strategy["requestedToCapacityRatio"] = {"shape": shape}
        args["scoringStrategy"] = strategy
    elif name == "NodeResourcesBalancedAllocation":
        args["resources"] = _check_resources(args.get("resources") or DEFAULT_RESOURCES, name)
    elif name == "PodTopologySpread":
        args["defaultConstraints"] = _default_constraints(args)
    elif name == "InterPodAffinity":
        weight = args.setdefault("hardPodAffinityWeight", 1)
        if not isinstance(weight, int) or not 0 <= weight <= 100:
            raise ProfileError("InterPodAffinity: hardPodAffinityWeight must be in 0..100")
        args.setdefault("ignorePreferredTermsOfExistingPods", False)
    return args


_WHEN_UNSATISFIABLE = ("DoNotSchedule", "ScheduleAnyway")
_INCLUSION_POLICIES = ("Honor", "Ignore")


def _default_constraints(args: dict) -> list[dict] | tuple[dict, ...]:
    """PodTopologySpreadArgs as upstream's ValidatePodTopologySpreadArgs checks them (the
    path of each error in its words); defaultingType defaults to System, whose constraints
    are upstream's systemDefaultConstraints."""
    kind = args.setdefault("defaultingType", "System")
    if kind not in ("System", "List"):
        raise ProfileError(f'PodTopologySpread: defaultingType: Unsupported value: {kind!r}: supported values: "System", "List"')
    constraints = args.get("defaultConstraints") or []
    if not isinstance(constraints, list):
        raise ProfileError("PodTopologySpread: defaultConstraints must be a list")
    if kind == "System":
        if constraints:
            raise ProfileError("PodTopologySpread: defaultingType: Invalid value: \"System\": when .defaultConstraints are not empty")
        return SYSTEM_DEFAULT_CONSTRAINTS
    seen = set()
    for i, c in enumerate(constraints):
        path = f"PodTopologySpread: defaultConstraints[{i}]"
        if not isinstance(c, Mapping):
            raise ProfileError(f"{path}: must be an object")
        skew = c.get("maxSkew")
        if not isinstance(skew, int) or isinstance(skew, bool) or skew <= 0:
            raise ProfileError(f"{path}.maxSkew: Invalid value: {skew!r}: not in valid range (0, inf)")
        key = c.get("topologyKey")
        if not key or not isinstance(key, str):
            raise ProfileError(f"{path}.topologyKey: Required value: can not be empty")
        problem = qualified_name_error(key)
        if problem:
            raise ProfileError(f"{path}.topologyKey: Invalid value: {key!r}: {problem}")
        when = c.get("whenUnsatisfiable")
        if when not in _WHEN_UNSATISFIABLE:
            raise ProfileError(f'{path}.whenUnsatisfiable: Unsupported value: {when!r}: supported values: "DoNotSchedule", "ScheduleAnyway"')
        if c.get("labelSelector") is not None:
            raise ProfileError(f"{path}.labelSelector: Forbidden: constraint must not define a selector, as they deduced for each pod")
        if (key, when) in seen:
            raise ProfileError(f"PodTopologySpread: defaultConstraints[{i}]: Duplicate value: \"{{{key}, {when}}}\"")
        seen.add((key, when))
        # Read by the kernels as a pod's own constraint would be: checked so that a typo
        # fails here rather than in the middle of a scheduling cycle.
        min_domains = c.get("minDomains", 1)
        if not isinstance(min_domains, int) or isinstance(min_domains, bool) or min_domains <= 0:
            raise ProfileError(f"{path}.minDomains: Invalid value: {min_domains!r}: must be greater than 0")
        for policy in ("nodeAffinityPolicy", "nodeTaintsPolicy"):
            if c.get(policy, "Honor") not in _INCLUSION_POLICIES:
                raise ProfileError(f'{path}.{policy}: Unsupported value: {c[policy]!r}: supported values: "Honor", "Ignore"')
    return [dict(c) for c in constraints]


def build_profile(spec: Mapping[str, Any], registry: Registry, global_percentage: int, handle: Any) -> Profile:
    name = spec.get("schedulerName") or DEFAULT_SCHEDULER_NAME
    plugins = spec.get("plugins") or {}
    unknown_points = set(plugins) - set(POINTS) - {"multiPoint"}
    if unknown_points:
        raise ProfileError(f"profile {name!r}: unknown extension points {sorted(unknown_points)}")
    for point in ("multiPoint",) + POINTS:
        for entry in _entries(plugins.get(point), "enabled") + _entries(plugins.get(point), "disabled"):
            if entry["name"] != "*" and entry["name"] not in registry:
                raise ProfileError(f"profile {name!r}: plugin {entry['name']!r} is not registered")

    # multiPoint: upstream's defaults, minus disabled, plus custom (custom wins on weight).
    multi = plugins.get("multiPoint")
    disabled = {e["name"] for e in _entries(multi, "disabled")}
    multipoint = [(n, w) for n, w in DEFAULT_MULTIPOINT if "*" not in disabled and n not in disabled]
    for entry in _entries(multi, "enabled"):
        multipoint = [(n, w) for n, w in multipoint if n != entry["name"]]
        default = getattr(registry[entry["name"]], "default_weight", 1)
        multipoint.append((entry["name"], entry.get("weight", default)))

    pcfg = {}
    for item in spec.get("pluginConfig") or ():
        if item.get("name") not in registry:
            raise ProfileError(f"profile {name!r}: pluginConfig for unregistered plugin {item.get('name')!r}")
        if item["name"] in pcfg:
            raise ProfileError(f"profile {name!r}: repeated pluginConfig for {item['name']!r}")
        pcfg[item["name"]] = item.get("args") or {}

    instances: dict[str, Any] = {}
    profile = Profile(scheduler_name=name)

    def instance(plugin_name: str):
        if plugin_name not in instances:
            args = _validate_args(plugin_name, pcfg.get(plugin_name, {}))
            profile.plugin_args[plugin_name] = args
            instances[plugin_name] = registry[plugin_name](args, handle)
        return instances[plugin_name]

    for point in POINTS:
        section = plugins.get(point)
        disabled = {e["name"] for e in _entries(section, "disabled")}
        chosen: list[tuple[str, Any]] = []
        for entry in _entries(section, "enabled"):
            if not _implements(registry[entry["name"]], point):
                raise ProfileError(f"profile {name!r}: plugin {entry['name']!r} does not extend {point}")
            chosen.append((entry["name"], entry))
        explicit = {n for n, _ in chosen}
        for n, w in multipoint:
            if n in explicit or n in disabled or "*" in disabled or not _implements(registry[n], point):
                continue
            chosen.append((n, {"name": n, "weight": w} if w else {"name": n}))
        plugins_here = []
        for n, entry in chosen:
            plugin = instance(n)
            if point in ("filter", "score", "preScore") and plugin.native_kernel is None:
                raise ProfileError(f"profile {name!r}: {point} plugin {n!r} has no native kernel; Filter and Score run natively over all nodes")
            if point == "score":
                profile.score_weights[n] = _weight(entry, getattr(plugin, "default_weight", 1), n)
            plugins_here.append(plugin)
        profile.plugins[point] = plugins_here

    if len(profile.plugins["queueSort"]) != 1:
        raise ProfileError(f"profile {name!r}: exactly one queueSort plugin is needed, found {len(profile.plugins['queueSort'])}")
    if not profile.plugins["bind"]:
        raise ProfileError(f"profile {name!r}: at least one bind plugin is needed")
    percentage = spec.get("percentageOfNodesToScore", global_percentage)
    if percentage is None:
        percentage = global_percentage
    if not isinstance(percentage, int) or not 0 <= percentage <= 100:
        raise ProfileError(f"profile {name!r}: percentageOfNodesToScore must be in 0..100, got {percentage!r}")
    profile.percentage_of_nodes_to_score = percentage
    for plugin_name, args in pcfg.items():  # args of plugins not enabled are still validated
        _validate_args(plugin_name, args)
    return profile


def build_profiles(config: Mapping | str | None = None, *, registry: Registry | None = None, handle: Any = None) -> dict[str, Profile]:
    """Parse and validate a configuration into profiles keyed by schedulerName."""
    if isinstance(config, str):
        import yaml  # YAML text is rare (the CLI parses --config itself): not paid at every start

        config = yaml.safe_load(config)
    config = dict(config or {})
    registry = registry or default_registry()
    global_percentage = config.get("percentageOfNodesToScore") or 0
    specs = config.get("profiles") or [{"schedulerName": DEFAULT_SCHEDULER_NAME}]
    profiles: dict[str, Profile] = {}
    for spec in specs:
        profile = build_profile(spec, registry, global_percentage, handle)
        if profile.scheduler_name in profiles:
            raise ProfileError(f"duplicate schedulerName {profile.scheduler_name!r}")
        profiles[profile.scheduler_name] = profile
    return profiles
