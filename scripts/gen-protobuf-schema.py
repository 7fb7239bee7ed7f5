#!/usr/bin/env python3
"""Generate host/wharf-protobuf/src/schema_generated.rs.

The schema tells the wharf-protobuf decoder, for every Kubernetes protobuf
message that an API request body can carry, which field numbers it has, of
which wire type, and under which JSON name the field appears in the object's
Kubernetes JSON form.

Sources of truth (both Apache-2.0, read from the local cargo registry):
  * k8s-pb 0.9.0       - prost-generated structs: field numbers and types.
  * k8s-openapi 0.29.0 - src/v1_37: JSON names (the serde Deserialize match
                         arms), which fields are optional, and the kind table
                         (`impl crate::Resource`: API_VERSION, KIND, LIST_KIND).

If either crate is not in the registry yet, a throw-away cargo project that
depends on both is created in a temporary directory and `cargo fetch`ed.

Usage: python3 scripts/gen-protobuf-schema.py   (from anywhere; stdlib only)
"""

import glob
import os
import re
import subprocess
import sys
import tempfile

PB_CRATE = "k8s-pb-0.9.0"
OPENAPI_CRATE = "k8s-openapi-0.29.0"
OPENAPI_VERSION_DIR = "v1_37"

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUTPUT = os.path.join(REPO, "host", "wharf-protobuf", "src", "schema_generated.rs")

# Messages whose JSON form is not an object of their fields. The decoder
# converts them (see host/wharf-protobuf/src/special.rs); their fields keep the
# k8s-pb field names, which the decoder looks up.
SPECIAL = {
    "apimachinery.pkg.apis.meta.v1.Time": "Time",
    "apimachinery.pkg.apis.meta.v1.MicroTime": "MicroTime",
    "apimachinery.pkg.apis.meta.v1.Duration": "Duration",
    "apimachinery.pkg.api.resource.Quantity": "Quantity",
    "apimachinery.pkg.util.intstr.IntOrString": "IntOrString",
    "apimachinery.pkg.runtime.RawExtension": "RawJson",
    "apimachinery.pkg.apis.meta.v1.FieldsV1": "RawJson",
    "apiextensions_apiserver.pkg.apis.apiextensions.v1.Json": "RawJson",
    "apiextensions_apiserver.pkg.apis.apiextensions.v1.JsonSchemaPropsOrArray": "SchemaOrArray",
    "apiextensions_apiserver.pkg.apis.apiextensions.v1.JsonSchemaPropsOrBool": "SchemaOrBool",
    "apiextensions_apiserver.pkg.apis.apiextensions.v1.JsonSchemaPropsOrStringArray": "SchemaOrStringArray",
    # The body envelope ("k8s\0" + runtime.Unknown); never part of an object.
    "apimachinery.pkg.runtime.Unknown": "Envelope",
    "apimachinery.pkg.runtime.TypeMeta": "Envelope",
}

ENVELOPE = "apimachinery.pkg.runtime.Unknown"

# Messages kept although no kind reaches them: the envelope, and
# meta.v1.Duration (only the metrics API uses it in k8s-pb 0.9.0, but its
# conversion is part of the decoder).
EXTRA_ROOTS = {ENVELOPE, "apimachinery.pkg.apis.meta.v1.Duration"}

# Kinds that Kubernetes registers in every group version, so an envelope may
# name them with any apiVersion (client-go sends DeleteOptions with the
# group version of the resource being deleted).
ANY_VERSION_KINDS = {
    "DeleteOptions": "apimachinery.pkg.apis.meta.v1.DeleteOptions",
}

# Go emits every non-pointer field on the protobuf wire, so an empty string in
# an optional (omitempty) field means "unset" and the decoder leaves it out of
# the JSON, as Go's JSON encoder would. These optional fields are *string in
# Go, where "" is a value of its own that must survive.
KEEP_EMPTY_STRING = {
    ("api.core.v1.PersistentVolumeClaimSpec", "storageClassName"),
    ("api.core.v1.PersistentVolumeClaimSpec", "volumeAttributesClassName"),
    ("api.core.v1.ModifyVolumeStatus", "targetVolumeAttributesClassName"),
    ("api.discovery.v1.EndpointPort", "name"),
}


# The same holds for numbers and booleans, but there Go has many pointer
# fields (`replicas`, `runAsUser`, `automountServiceAccountToken`) whose zero
# is a value, and neither source crate tells a pointer from a value. So zero
# numbers and false are kept, except in these non-pointer omitempty fields,
# where 0 or false means "unset" and readers of the JSON would misread it
# (a Service port's `nodePort: 0`, a probe's `periodSeconds: 0`). Each entry
# must be an optional number or boolean; the script checks that.
ZERO_IS_UNSET = {
    ("apimachinery.pkg.apis.meta.v1.ObjectMeta", "generation"),
    ("api.core.v1.ContainerPort", "hostPort"),
    ("api.core.v1.ServicePort", "nodePort"),
    ("api.core.v1.ServiceSpec", "healthCheckNodePort"),
    ("api.core.v1.ServiceSpec", "publishNotReadyAddresses"),
    ("api.core.v1.Probe", "initialDelaySeconds"),
    ("api.core.v1.Probe", "timeoutSeconds"),
    ("api.core.v1.Probe", "periodSeconds"),
    ("api.core.v1.Probe", "successThreshold"),
    ("api.core.v1.Probe", "failureThreshold"),
    ("api.core.v1.Container", "stdin"),
    ("api.core.v1.Container", "stdinOnce"),
    ("api.core.v1.Container", "tty"),
    ("api.core.v1.EphemeralContainerCommon", "stdin"),
    ("api.core.v1.EphemeralContainerCommon", "stdinOnce"),
    ("api.core.v1.EphemeralContainerCommon", "tty"),
    ("api.core.v1.PodSpec", "hostNetwork"),
    ("api.core.v1.PodSpec", "hostPID"),
    ("api.core.v1.PodSpec", "hostIPC"),
    ("api.core.v1.VolumeMount", "readOnly"),
    ("api.core.v1.PersistentVolumeClaimVolumeSource", "readOnly"),
    ("api.core.v1.Event", "count"),
    ("api.apps.v1.DeploymentSpec", "minReadySeconds"),
    ("api.apps.v1.DeploymentSpec", "paused"),
    ("api.apps.v1.StatefulSetSpec", "minReadySeconds"),
    ("api.apps.v1.ReplicaSetSpec", "minReadySeconds"),
    ("api.apps.v1.DaemonSetSpec", "minReadySeconds"),
    ("api.apps.v1.DeploymentStatus", "observedGeneration"),
    ("api.apps.v1.DeploymentStatus", "replicas"),
    ("api.apps.v1.DeploymentStatus", "updatedReplicas"),
    ("api.apps.v1.DeploymentStatus", "readyReplicas"),
    ("api.apps.v1.DeploymentStatus", "availableReplicas"),
    ("api.apps.v1.DeploymentStatus", "unavailableReplicas"),
    ("api.apps.v1.ReplicaSetStatus", "fullyLabeledReplicas"),
    ("api.apps.v1.ReplicaSetStatus", "readyReplicas"),
    ("api.apps.v1.ReplicaSetStatus", "availableReplicas"),
    ("api.apps.v1.ReplicaSetStatus", "observedGeneration"),
    ("api.networking.v1.ServiceBackendPort", "number"),
    ("api.batch.v1.JobStatus", "active"),
    ("api.batch.v1.JobStatus", "succeeded"),
    ("api.batch.v1.JobStatus", "failed"),
}


def registry_roots():
    cargo_home = os.environ.get("CARGO_HOME") or os.path.expanduser("~/.cargo")
    return glob.glob(os.path.join(cargo_home, "registry", "src", "*"))


def find_crate(name):
    for root in registry_roots():
        path = os.path.join(root, name)
        if os.path.isdir(path):
            return path
    return None


def fetch_crates():
    with tempfile.TemporaryDirectory(prefix="wharf-protobuf-schema-") as tmp:
        os.makedirs(os.path.join(tmp, "src"))
        with open(os.path.join(tmp, "Cargo.toml"), "w") as f:
            f.write(
                '[package]\nname = "schema-fetch"\nversion = "0.0.0"\nedition = "2021"\n\n'
                "[dependencies]\n"
                'k8s-pb = "=0.9.0"\n'
                'k8s-openapi = { version = "=0.29.0", features = ["v1_37"] }\n'
            )
        with open(os.path.join(tmp, "src", "lib.rs"), "w") as f:
            f.write("")
        subprocess.run(["cargo", "fetch", "--manifest-path", os.path.join(tmp, "Cargo.toml")], check=True)


def locate():
    pb, openapi = find_crate(PB_CRATE), find_crate(OPENAPI_CRATE)
    if pb is None or openapi is None:
        print("fetching k8s-pb and k8s-openapi with cargo", file=sys.stderr)
        fetch_crates()
        pb, openapi = find_crate(PB_CRATE), find_crate(OPENAPI_CRATE)
    if pb is None or openapi is None:
        sys.exit("cannot find %s and %s in the cargo registry" % (PB_CRATE, OPENAPI_CRATE))
    return pb, openapi


def norm(name):
    """Compare names across naming schemes: volumeID, volume_id, $ref, x-kubernetes-..."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def lower_camel(snake):
    parts = snake.split("_")
    return parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])


# ---------------------------------------------------------------- k8s-pb


class PbField:
    def __init__(self, rust_name, tag, scalar, repeated, map_value, message):
        self.rust_name = rust_name  # without r#
        self.tag = tag
        self.scalar = scalar  # string | bool | int32 | int64 | double | bytes | message | map
        self.repeated = repeated
        self.map_value = map_value  # string | bytes | message (maps only)
        self.message = message  # full message name for message fields / message map values


def resolve_path(module, path):
    """Resolve a Rust type path used in k8s-pb module `module` to a dotted message name."""
    parts = path.split("::")
    if parts[0] == "crate":
        return ".".join(parts[1:])
    base = list(module)
    while parts and parts[0] == "super":
        base.pop()
        parts.pop(0)
    return ".".join(base + parts)


def message_path(type_text):
    """The one relative type path in a field type (wrappers are absolute ::core/::prost paths)."""
    paths = [
        p
        for p in re.findall(r"(?<![\w:])(?:crate::|super::)?[A-Za-z_]\w*(?:::\w+)*", type_text)
        if p not in ("String", "bool", "i32", "i64", "f64", "u8")
    ]
    if len(paths) != 1:
        raise ValueError("cannot find the message type in %r" % type_text)
    return paths[0]


def parse_pb(pb_root):
    """Messages by dotted name, and the names of list wrappers (`type Verbs []string` in Go)."""
    messages = {}
    list_wrappers = set()
    src = os.path.join(pb_root, "src")
    for path in sorted(glob.glob(os.path.join(src, "**", "mod.rs"), recursive=True)):
        module = os.path.relpath(os.path.dirname(path), src).split(os.sep)
        with open(path) as f:
            lines = f.read().split("\n")
        i = 0
        doc = []
        while i < len(lines):
            m = re.match(r"^pub struct (\w+) \{(\})?$", lines[i])
            if m and any("+protobuf.nullable=true" in line for line in doc):
                list_wrappers.add(".".join(module + [m.group(1)]))
            doc = doc + [lines[i]] if lines[i].startswith(("///", "#[")) else []
            i += 1
            if not m:
                continue
            fields = []
            if m.group(2):
                messages[".".join(module + [m.group(1)])] = fields
                continue
            while i < len(lines) and lines[i] != "}":
                attr = re.match(r"^\s*#\[prost\((.*)\)\]$", lines[i])
                i += 1
                if not attr:
                    continue
                decl = ""
                depth = 0
                while i < len(lines):
                    line = lines[i].strip()
                    i += 1
                    decl += line
                    depth += line.count("<") - line.count(">")
                    if depth == 0 and decl.endswith(","):
                        break
                fields.append(parse_pb_field(module, attr.group(1), decl))
            messages[".".join(module + [m.group(1)])] = fields
    return messages, list_wrappers


def parse_pb_field(module, attr, decl):
    dm = re.match(r"^pub (?:r#)?(\w+):\s*(.*),$", decl)
    if not dm:
        raise ValueError("cannot parse field declaration %r" % decl)
    rust_name, type_text = dm.group(1), dm.group(2)
    tag = int(re.search(r'tag = "(\d+)"', attr).group(1))
    repeated = re.search(r"\brepeated\b", attr) is not None
    mm = re.match(r'^(?:btree_map|map) = "string, (\w+)"', attr)
    if mm:
        value = mm.group(1)
        message = resolve_path(module, message_path(type_text.split(",", 1)[1])) if value == "message" else None
        if value not in ("string", "bytes", "message"):
            raise ValueError("unsupported map value %r" % attr)
        return PbField(rust_name, tag, "map", False, value, message)
    scalar = re.match(r"^(\w+)", attr).group(1)
    if scalar not in ("string", "bool", "int32", "int64", "double", "bytes", "message"):
        raise ValueError("unsupported protobuf type %r" % attr)
    message = resolve_path(module, message_path(type_text)) if scalar == "message" else None
    return PbField(rust_name, tag, scalar, repeated, None, message)


# ---------------------------------------------------------- k8s-openapi


class OpenapiType:
    def __init__(self):
        self.json_by_rust = {}  # rust field name -> JSON name
        self.optional_rust = set()  # rust field names typed Option<..>


def parse_openapi(openapi_root):
    types = {}  # (module, lower type name) -> OpenapiType
    resources = []  # (api_version, kind, module, type name, list kind or None)
    base = os.path.join(openapi_root, "src", OPENAPI_VERSION_DIR)
    for path in sorted(glob.glob(os.path.join(base, "**", "*.rs"), recursive=True)):
        with open(path) as f:
            text = f.read()
        d = re.match(r"// Generated from definition (\S+)", text)
        if not d:
            continue
        dotted = d.group(1)[len("io.k8s.") :].replace("-", "_")
        module, _, name = dotted.rpartition(".")
        t = OpenapiType()
        s = re.search(r"^pub struct \w+ \{\n(.*?)^\}", text, re.S | re.M)
        if s:
            for fm in re.finditer(r"^    pub (\w+): (.*),$", s.group(1), re.M):
                if fm.group(2).startswith("Option<"):
                    t.optional_rust.add(fm.group(1))
        for am in re.finditer(r'^\s*"([^"]+)" => Field::Key_(\w+),$', text, re.M):
            t.json_by_rust[am.group(2)] = am.group(1)
        types[(module, name.lower())] = t
        r = re.search(r"impl crate::Resource for (\w+) \{(.*?)\n\}", text, re.S)
        if r:
            api_version = re.search(r'const API_VERSION: &\'static str = "([^"]*)";', r.group(2)).group(1)
            kind = re.search(r'const KIND: &\'static str = "([^"]*)";', r.group(2)).group(1)
            lk = re.search(r'const LIST_KIND: &\'static str = "([^"]*)";', text)
            resources.append((api_version, kind, module, r.group(1), lk.group(1) if lk else None))
    return types, resources


# --------------------------------------------------------------- linking


def main():
    pb_root, openapi_root = locate()
    pb, list_wrappers = parse_pb(pb_root)
    for full in list_wrappers:
        fields = pb[full]
        if len(fields) != 1 or not fields[0].repeated:
            sys.exit("list wrapper %s is not one repeated field" % full)
        SPECIAL[full] = "Items"
    types, resources = parse_openapi(openapi_root)
    pb_by_lower = {}
    for full in pb:
        module, _, name = full.rpartition(".")
        pb_by_lower[(module, name.lower())] = full

    global_json = {}  # norm(json) -> set of JSON names, over all openapi types
    for t in types.values():
        for json in t.json_by_rust.values():
            global_json.setdefault(norm(json), set()).add(json)

    kinds = []  # (api_version, kind, message)
    missing_kinds = []
    for api_version, kind, module, type_name, list_kind in resources:
        full = pb_by_lower.get((module, type_name.lower()))
        if full is None:
            missing_kinds.append("%s %s" % (api_version, kind))
            continue
        kinds.append((api_version, kind, full))
        if list_kind:
            list_full = pb_by_lower.get((module, list_kind.lower()))
            if list_full is None:
                missing_kinds.append("%s %s" % (api_version, list_kind))
            else:
                kinds.append((api_version, list_kind, list_full))
    for kind, full in ANY_VERSION_KINDS.items():
        kinds.append(("*", kind, full))
    kinds.sort()

    # Every message reachable from a kind, in a stable order.
    order = []
    seen = set()
    stack = sorted({full for _, _, full in kinds} | EXTRA_ROOTS, reverse=True)
    while stack:
        full = stack.pop()
        if full in seen:
            continue
        if full not in pb:
            sys.exit("message %s is referenced but not defined in k8s-pb" % full)
        seen.add(full)
        order.append(full)
        for field in sorted(pb[full], key=lambda f: f.tag, reverse=True):
            if field.message and field.message not in seen:
                stack.append(field.message)
    order.sort()
    index = {full: i for i, full in enumerate(order)}
    if len(order) > 65535:
        sys.exit("too many messages for u16 indices")

    # Go structs embedded with `json:",inline"` are a nested message on the
    # wire but flattened into the parent in JSON: a message field whose name is
    # not a JSON field of the parent, and whose own fields (recursively through
    # further inline messages) all are, is inline.
    def own_type(full):
        module, _, name = full.rpartition(".")
        return types.get((module, name.lower()))

    def json_norms(t):
        return {norm(j) for j in t.json_by_rust.values()}

    def fits(msg, norms, depth=0):
        fields = pb[msg]
        return depth < 8 and bool(fields) and all(
            norm(f.rust_name) in norms
            or (f.scalar == "message" and not f.repeated and fits(f.message, norms, depth + 1))
            for f in fields
        )

    inline = set()  # (message, tag)
    effective = {}  # message -> openapi type naming its fields
    for full in order:
        if own_type(full) is not None:
            effective[full] = own_type(full)
    changed = True
    while changed:
        changed = False
        for full in order:
            t = effective.get(full)
            if t is None or full in SPECIAL:
                continue
            norms = json_norms(t)
            for field in pb[full]:
                if (
                    field.scalar == "message"
                    and not field.repeated
                    and field.message not in SPECIAL
                    and norm(field.rust_name) not in norms
                    and fits(field.message, norms)
                ):
                    if (full, field.tag) not in inline:
                        inline.add((full, field.tag))
                        changed = True
                    if field.message not in effective:
                        effective[field.message] = t
                        changed = True

    report = {"global": [], "not in type": [], "unmapped": []}
    rendered = []
    for full in order:
        special = SPECIAL.get(full)
        t = effective.get(full)
        by_norm = {}
        if t is not None:
            for json in t.json_by_rust.values():
                by_norm.setdefault(norm(json), set()).add(json)
        fields = []
        by_tag = sorted(pb[full], key=lambda f: f.tag)
        for field in by_tag:
            optional = False
            where = "%s.%s" % (full, field.rust_name)
            if special or (full, field.tag) in inline:
                json = field.rust_name
            elif len(by_norm.get(norm(field.rust_name), ())) == 1:
                json = next(iter(by_norm[norm(field.rust_name)]))
                optional = any(r in t.optional_rust for r, j in t.json_by_rust.items() if j == json)
            elif len(global_json.get(norm(field.rust_name), ())) == 1:
                json = next(iter(global_json[norm(field.rust_name)]))
                report["global" if t is None else "not in type"].append("%s -> %s" % (where, json))
            else:
                json = lower_camel(field.rust_name)
                report["unmapped"].append("%s -> %s" % (where, json))
            fields.append(render_field(full, field, json, optional, (full, field.tag) in inline, index))
        # k8s-pb declares fields in the Go struct's order, which is the
        # order Go's JSON encoder writes them in; `fields` is by number.
        go_order = [by_tag.index(field) for field in pb[full]]
        if go_order == list(range(len(by_tag))):
            rendered.append("    /* %d */ m(%s, %s, &[%s]),\n" % (index[full], q(full), special or "Object", ", ".join(fields)))
        else:
            rendered.append("    /* %d */ mo(%s, %s, &[%s], &[%s]),\n" % (
                index[full], q(full), special or "Object", ", ".join(fields), ", ".join(map(str, go_order))))

    # JSON fields of v1_37 that k8s-pb does not have: a body carrying one
    # (by a field number the schema lacks) loses it.
    lacking = []
    for full in order:
        t = own_type(full)
        if t is None or full in SPECIAL:
            continue
        known = {norm(f.rust_name) for f in pb[full]}
        for field in pb[full]:
            if (full, field.tag) in inline:
                known |= {norm(f.rust_name) for f in pb[field.message]}
        for json in sorted(set(t.json_by_rust.values()) - {"apiVersion", "kind"}):
            if norm(json) not in known:
                lacking.append("%s.%s" % (full, json))

    for full, json in sorted(ZERO_IS_UNSET - ZERO_IS_UNSET_FOUND):
        sys.exit("ZERO_IS_UNSET names %s.%s, which the schema does not have" % (full, json))
    write_output(order, rendered, kinds, index, report, missing_kinds)
    verbose = "-v" in sys.argv[1:]
    print("wrote %s: %d messages, %d kinds, %d bytes" % (os.path.relpath(OUTPUT, REPO), len(order), len(kinds), os.path.getsize(OUTPUT)))
    print("inline (embedded) message fields: %d" % len(inline))
    for title, items, listed in (
        ("fields of messages with no k8s-openapi type, named by the global JSON name table", report["global"], verbose),
        ("fields missing from their k8s-openapi v1_37 type, named by the global table", report["not in type"], True),
        ("fields with no JSON name in k8s-openapi, named in lowerCamelCase", report["unmapped"], True),
        ("kinds with no k8s-pb message (bodies of these kinds are rejected)", missing_kinds, True),
        ("v1_37 JSON fields k8s-pb lacks (skipped when a body carries them)", lacking, verbose),
    ):
        print("%s: %d" % (title, len(items)))
        for item in items if listed else []:
            print("  " + item)


ZERO_IS_UNSET_FOUND = set()


def q(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_field(full, field, json, optional, is_inline, index):
    if is_inline:
        return "f(%d, %s, Message(%d), Inline)" % (field.tag, q(json), index[field.message])
    if field.scalar == "map":
        ty = {"string": "MapString", "bytes": "MapBytes"}.get(field.map_value) or "MapMessage(%d)" % index[field.message]
        card = "Many"
    else:
        if field.scalar == "message":
            ty = "Message(%d)" % index[field.message]
        else:
            ty = {"string": "String", "bool": "Bool", "int32": "Int32", "int64": "Int64", "double": "Double", "bytes": "Bytes"}[field.scalar]
        if field.repeated:
            card = "Many"
        elif optional and field.scalar in ("string", "bytes") and (full, json) not in KEEP_EMPTY_STRING:
            card = "OmitEmpty"
        elif (full, json) in ZERO_IS_UNSET:
            if not optional or field.scalar not in ("int32", "int64", "bool"):
                sys.exit("%s.%s in ZERO_IS_UNSET is not an optional number or boolean" % (full, json))
            ZERO_IS_UNSET_FOUND.add((full, json))
            card = "OmitEmpty"
        else:
            card = "One"
    return "f(%d, %s, %s, %s)" % (field.tag, q(json), ty, card)


def write_output(order, rendered, kinds, index, report, missing_kinds):
    with open(OUTPUT, "w") as out:
        out.write(
            "// @generated by scripts/gen-protobuf-schema.py from the crates.io packages\n"
            "// %s and %s (feature %s). DO NOT EDIT: change the script and rerun it.\n"
            "//\n"
            "// %d messages (every message reachable from a kind below, the envelope, meta.v1.Duration), %d kinds.\n"
            "// Fields named by the global JSON name table: %d (%d missing from their v1_37 type);\n"
            "// fields without a JSON name: %d; kinds without a protobuf message: %d (the script lists them).\n"
            "\n"
            "use super::Card::{Inline, Many, OmitEmpty, One};\n"
            "use super::FieldType::{Bool, Bytes, Double, Int32, Int64, MapBytes, MapMessage, MapString, Message, String};\n"
            "use super::Special::{\n"
            "    Duration, Envelope, IntOrString, Items, MicroTime, Object, Quantity, RawJson, SchemaOrArray, SchemaOrBool, SchemaOrStringArray,\n"
            "    Time,\n"
            "};\n"
            "use super::{KindDef, MessageDef, f, k, m, mo};\n"
            "\n"
            % (PB_CRATE, OPENAPI_CRATE, OPENAPI_VERSION_DIR, len(order),
               len(kinds),
               len(report["global"]) + len(report["not in type"]),
               len(report["not in type"]),
               len(report["unmapped"]),
               len(missing_kinds))
        )
        out.write("pub(super) static MESSAGES: [MessageDef; %d] = [\n" % len(order))
        out.writelines(rendered)
        out.write("];\n\n")
        out.write("/// The body envelope, runtime.Unknown.\n")
        out.write("pub(super) const ENVELOPE: u16 = %d;\n\n" % index[ENVELOPE])
        out.write("/// Sorted by (apiVersion, kind); apiVersion \"*\" matches any group version.\n")
        out.write("pub(super) static KINDS: [KindDef; %d] = [\n" % len(kinds))
        for api_version, kind, full in kinds:
            out.write("    k(%s, %s, %d),\n" % (q(api_version), q(kind), index[full]))
        out.write("];\n")


if __name__ == "__main__":
    main()
