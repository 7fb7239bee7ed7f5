"""Naming kinds and objects across the boundary: the WIT ``kind`` and
``object-ref`` records, and the well-known kinds as constants.

>>> DEPLOYMENT.api_version
'apps/v1'
>>> Kind.of({"apiVersion": "v1", "kind": "ConfigMap"}) == CONFIG_MAP
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

__all__ = [
    "Kind",
    "ObjectRef",
    "POD",
    "CONFIG_MAP",
    "SECRET",
    "SERVICE",
    "SERVICE_ACCOUNT",
    "ENDPOINTS",
    "NAMESPACE",
    "NODE",
    "EVENT",
    "PERSISTENT_VOLUME_CLAIM",
    "PERSISTENT_VOLUME",
    "LIMIT_RANGE",
    "RESOURCE_QUOTA",
    "DEPLOYMENT",
    "REPLICA_SET",
    "STATEFUL_SET",
    "DAEMON_SET",
    "JOB",
    "CRON_JOB",
    "INGRESS",
    "LEASE",
]


@dataclass(frozen=True, order=True)
class Kind:
    """A kind of object: ``group`` is empty for the core group
    (``Kind("", "v1", "Pod")``)."""

    group: str
    version: str
    kind: str

    @property
    def api_version(self) -> str:
        """The ``apiVersion`` field: ``apps/v1``, or ``v1`` for the core group."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @classmethod
    def parse(cls, api_version: str, kind: str) -> Kind:
        """The kind an ``apiVersion`` and a ``kind`` name (``"apps/v1"``, ``"Deployment"``)."""
        group, _, version = api_version.rpartition("/")
        return cls(group, version, kind)

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> Kind:
        """The kind of an object, from its ``apiVersion`` and ``kind`` fields.

        Raises ``ValueError`` when the object lacks them (objects read from
        the cluster always have them; ones you build may not).
        """
        api_version = obj.get("apiVersion")
        kind = obj.get("kind")
        if not isinstance(api_version, str) or not isinstance(kind, str) or not kind:
            raise ValueError("the object has no apiVersion and kind: pass its Kind explicitly")
        return cls.parse(api_version, kind)

    def __str__(self) -> str:
        """As apimachinery prints it: ``apps/v1, Kind=Deployment``."""
        return f"{self.api_version}, Kind={self.kind}"


@dataclass(frozen=True)
class ObjectRef:
    """One object, by kind, namespace (``None`` for cluster-scoped kinds) and name."""

    kind: Kind
    namespace: str | None
    name: str

    @classmethod
    def of(cls, obj: Mapping[str, Any], kind: Kind | None = None) -> ObjectRef:
        """The reference to an object (its kind from ``apiVersion``/``kind``
        unless given, its namespace and name from its metadata)."""
        metadata = obj.get("metadata") or {}
        return cls(kind or Kind.of(obj), metadata.get("namespace"), metadata.get("name", ""))

    def __str__(self) -> str:
        """``Kind namespace/name``, or ``Kind name`` for cluster-scoped objects."""
        if self.namespace is None:
            return f"{self.kind.kind} {self.name}"
        return f"{self.kind.kind} {self.namespace}/{self.name}"


POD = Kind("", "v1", "Pod")
CONFIG_MAP = Kind("", "v1", "ConfigMap")
SECRET = Kind("", "v1", "Secret")
SERVICE = Kind("", "v1", "Service")
SERVICE_ACCOUNT = Kind("", "v1", "ServiceAccount")
ENDPOINTS = Kind("", "v1", "Endpoints")
NAMESPACE = Kind("", "v1", "Namespace")
NODE = Kind("", "v1", "Node")
EVENT = Kind("", "v1", "Event")
PERSISTENT_VOLUME_CLAIM = Kind("", "v1", "PersistentVolumeClaim")
PERSISTENT_VOLUME = Kind("", "v1", "PersistentVolume")
LIMIT_RANGE = Kind("", "v1", "LimitRange")
RESOURCE_QUOTA = Kind("", "v1", "ResourceQuota")
DEPLOYMENT = Kind("apps", "v1", "Deployment")
REPLICA_SET = Kind("apps", "v1", "ReplicaSet")
STATEFUL_SET = Kind("apps", "v1", "StatefulSet")
DAEMON_SET = Kind("apps", "v1", "DaemonSet")
JOB = Kind("batch", "v1", "Job")
CRON_JOB = Kind("batch", "v1", "CronJob")
INGRESS = Kind("networking.k8s.io", "v1", "Ingress")
LEASE = Kind("coordination.k8s.io", "v1", "Lease")
