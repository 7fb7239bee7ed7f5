"""Gives every new Pod a `team` label (its namespace's, else `unknown`) and
refuses new Pods in namespaces labelled `frozen=true`."""

from wharf import (
    CREATE,
    NAMESPACE,
    POD,
    Admission,
    AdmissionRegistration,
    Context,
    Request,
    Response,
    export,
)


class Teams(Admission):
    def registration(self, config: dict) -> AdmissionRegistration:
        self.default_team = config.get("defaultTeam", "unknown")
        return AdmissionRegistration([POD], operations=[CREATE], mutating=True, reads=[NAMESPACE])

    def review(self, ctx: Context, request: Request) -> Response:
        namespace = ctx.get(NAMESPACE, None, request.namespace or "default") or {}
        namespace_labels = namespace.get("metadata", {}).get("labels") or {}
        if namespace_labels.get("frozen") == "true":
            return Response.deny(f"namespace {request.namespace} is frozen")
        pod = request.object
        labels = pod["metadata"].setdefault("labels", {})
        if "team" in labels:
            return Response.allow()
        labels["team"] = namespace_labels.get("team", self.default_team)
        return (
            Response.patch(request, pod)  # the JSON patch from the object as received
            .warn(f"no team label: set to {labels['team']}")
            .annotate("teams.example.com/defaulted", labels["team"])
        )


export(Teams)
