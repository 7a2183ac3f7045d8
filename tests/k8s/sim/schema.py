"""Field checks against the official Python client's generated models
(Debian's python3-kubernetes): every kind's fields, their JSON names and
types (openapi_types/attribute_map), and which are required (the model's
setter raises ValueError for None).

Used by the API server (fieldValidation=Strict/Warn, as a real server
rejects or warns about unknown fields) and by validate-manifests.py. When
the package is missing, nothing is checked (the server accepts the body as
it is, like a server with fieldValidation=Ignore).

The Debian package is client 22.6 (Kubernetes 1.22): fields added since
then are listed in NEWER so they are not reported as unknown; their insides
are not checked.
"""

import re

try:
    from kubernetes import client as _client
    from kubernetes.client import models as _models
except ImportError:  # pragma: no cover - the checks need the package
    _client = None
    _models = None

NEWER = {
    "V1PodSpec": {"os", "hostUsers", "schedulingGates", "resourceClaims", "resources",
                  "hostnameOverride"},
    "V1Container": {"resizePolicy", "restartPolicy"},
    "V1EphemeralContainer": {"resizePolicy", "restartPolicy"},
    "V1JobSpec": {"podFailurePolicy", "podReplacementPolicy", "backoffLimitPerIndex",
                  "maxFailedIndexes", "successPolicy", "managedBy"},
    "V1JobStatus": {"ready", "terminating", "failedIndexes", "uncountedTerminatedPods"},
    "V1SecurityContext": {"appArmorProfile"},
    "V1PodSecurityContext": {"appArmorProfile", "supplementalGroupsPolicy",
                             "seLinuxChangePolicy"},
    "V1Probe": {"grpc"},
    "V1PodStatus": {"hostIPs", "resize", "resourceClaimStatuses"},
    "V1ContainerStatus": {"allocatedResources", "resources", "volumeMounts", "user",
                          "allocatedResourcesStatus", "stopSignal"},
    "V1ServiceSpec": {"trafficDistribution"},
    "V1Volume": {"image"},
    "V1ResourceRequirements": {"claims"},
    "V1PersistentVolumeClaimSpec": {"volumeAttributesClassName"},
    "V1StatefulSetSpec": {"ordinals", "persistentVolumeClaimRetentionPolicy"},
}


def available():
    return _models is not None


def model_for(kind, api_version):
    if _models is None or not kind or not api_version:
        return None
    version = api_version.split("/")[-1]
    return getattr(_models, version[0].upper() + version[1:] + kind, None)


_REQ_CACHE = {}


def required_attrs(cls):
    """JSON names of the fields whose setter refuses None."""
    if cls in _REQ_CACHE:
        return _REQ_CACHE[cls]
    req = []
    cfg = _client.Configuration()
    cfg.client_side_validation = True
    inst = cls.__new__(cls)
    inst.local_vars_configuration = cfg
    for attr, js in cls.attribute_map.items():
        try:
            setattr(inst, attr, None)
        except ValueError:
            req.append(js)
        except Exception:
            pass
    _REQ_CACHE[cls] = req
    return req


_LIST = re.compile(r"^list\[(.*)\]$")
_DICT = re.compile(r"^dict\(([^,]*), (.*)\)$")


def _model_cls(type_name):
    return getattr(_models, type_name, None) if _models is not None else None


def walk(obj, type_name, path, unknown, missing, check_required=True):
    """Checks obj against the model type_name; appends 'a.b[0].c' paths."""
    m = _LIST.match(type_name)
    if m:
        if isinstance(obj, list):
            for i, e in enumerate(obj):
                walk(e, m.group(1), "%s[%d]" % (path, i), unknown, missing, check_required)
        return
    m = _DICT.match(type_name)
    if m:
        if isinstance(obj, dict):
            for k, v in obj.items():
                walk(v, m.group(2), "%s[%s]" % (path, k), unknown, missing, check_required)
        return
    cls = _model_cls(type_name)
    if cls is None or not isinstance(obj, dict):
        return  # a scalar, "object", or a type the models lack
    by_json = {js: attr for attr, js in cls.attribute_map.items()}
    newer = NEWER.get(type_name, set())
    for k, v in obj.items():
        p = k if not path else path + "." + k
        if k in by_json:
            walk(v, cls.openapi_types[by_json[k]], p, unknown, missing, check_required)
        elif k not in newer:
            unknown.append(p)
    if check_required:
        for js in required_attrs(cls):
            if obj.get(js) is None:
                missing.append(js if not path else path + "." + js)


def check(obj, kind=None, api_version=None, check_required=True):
    """(unknown, missing, model name or None) for one manifest."""
    kind = kind or obj.get("kind")
    api_version = api_version or obj.get("apiVersion")
    cls = model_for(kind, api_version)
    if cls is None:
        return [], [], None
    unknown, missing = [], []
    walk(obj, cls.__name__, "", unknown, missing, check_required)
    # kind and apiVersion are required of a manifest, though the models allow None
    return unknown, missing, cls.__name__


def unknown_fields(kind, api_version, obj):
    if _models is None:
        return []
    u, _, _ = check(obj, kind, api_version, check_required=False)
    return u
