#!/usr/bin/env python3
"""import_schemas.py: one-time converter that produced kafka.schema.

Reads Apache Kafka's JSON message definitions (JSON with // comments) for the
APIs chronik speaks and writes chronik's own compact schema description (the
format is described at the top of kafka.schema and in gen_codec.py). Only wire
facts carry over: names, types, versions, nullable versions, defaults, tags,
api keys. Documentation strings, license headers and comments are dropped.

The committed kafka.schema is the source of truth; the build never runs this
script. Re-run it by hand only to import new API versions:

    python3 tools/import_schemas.py /path/to/messages > kafka.schema

Python 3 standard library only.
"""
import json
import os
import sys

# (schema file stem, kind) in the order they appear in kafka.schema.
APIS = [
    "Produce", "Fetch", "ListOffsets", "Metadata", "OffsetCommit", "OffsetFetch",
    "FindCoordinator", "JoinGroup", "Heartbeat", "LeaveGroup", "SyncGroup",
    "DescribeGroups", "ListGroups", "SaslHandshake", "ApiVersions", "CreateTopics",
    "DeleteTopics", "DeleteRecords", "InitProducerId", "OffsetForLeaderEpoch", "DescribeAcls", "CreateAcls",
    "DeleteAcls", "DescribeConfigs",
    "AlterConfigs", "DescribeLogDirs", "SaslAuthenticate", "CreatePartitions", "DeleteGroups",
    "ElectLeaders", "IncrementalAlterConfigs", "OffsetDelete", "DescribeCluster",
]
HEADERS = ["RequestHeader", "ResponseHeader"]
PRIMITIVES = {"bool", "int8", "int16", "uint16", "int32", "uint32", "int64",
              "float64", "string", "bytes", "records", "uuid"}


def strip_comments(text):
    """Drops // comments outside JSON strings."""
    out = []
    i, n = 0, len(text)
    in_str = False
    while i < n:
        c = text[i]
        if in_str:
            out.append(c)
            if c == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 2
                continue
            if c == '"':
                in_str = False
            i += 1
        elif c == '"':
            in_str = True
            out.append(c)
            i += 1
        elif text.startswith("//", i):
            while i < n and text[i] != "\n":
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.loads(strip_comments(f.read()))


def fmt_default(ftype, value):
    value = str(value).strip()
    if ftype == "string" and value != "null":
        return json.dumps(value)  # quoted, so "" stays visible
    return value


def field_line(fl, indent):
    ftype = fl["type"]
    parts = [fl["name"], ftype, fl["versions"]]
    if "nullableVersions" in fl:
        parts.append("nullable=" + fl["nullableVersions"])
    if "default" in fl:
        base = ftype[2:] if ftype.startswith("[]") else ftype
        parts.append("default=" + fmt_default(base, fl["default"]))
    if "tag" in fl:
        parts.append("tag=%d" % int(fl["tag"]))
        parts.append("tagged=" + fl["taggedVersions"])
    if "flexibleVersions" in fl:
        parts.append("flexible=" + fl["flexibleVersions"])
    return "  " * indent + " ".join(parts)


def emit_fields(fields, indent, out, seen):
    for fl in fields:
        out.append(field_line(fl, indent))
        base = fl["type"][2:] if fl["type"].startswith("[]") else fl["type"]
        if "fields" in fl:
            if base in seen:
                raise SystemExit("duplicate struct name %s" % base)
            seen.add(base)
            emit_fields(fl["fields"], indent + 1, out, seen)
        elif base not in PRIMITIVES and base not in seen and not base[0].isupper():
            raise SystemExit("unknown type %s" % fl["type"])


def emit_message(doc, kind, name, out):
    head = [kind, name]
    if "apiKey" in doc:
        head.append("key=%d" % doc["apiKey"])
    head.append("versions=" + doc["validVersions"])
    head.append("flexible=" + doc.get("flexibleVersions", "none"))
    if doc.get("latestVersionUnstable") is True:
        head.append("unstable")
    out.append(" ".join(head))
    seen = set(s["name"] for s in doc.get("commonStructs", []))
    emit_fields(doc["fields"], 1, out, seen)
    for cs in doc.get("commonStructs", []):
        out.append("  struct %s" % cs["name"])
        emit_fields(cs["fields"], 2, out, set())
    out.append("")


HEADER_TEXT = """\
# kafka.schema: chronik's description of the Kafka wire messages it speaks.
#
# Source of truth for kafka-frontend/protocol/gen_codec.py, which turns it into
# C structs and codecs at build time. Made once by tools/import_schemas.py;
# edit by hand or re-import, never at build time.
#
# Format (indentation of two spaces per level, '#' starts a comment line):
#   <kind> <Name> [key=<api key>] versions=<range> flexible=<range|none> [unstable]
#     kind is header, request or response; a request and its response share Name.
#   <Field> <type> <versions> [nullable=<range>] [default=<value>]
#           [tag=<n> tagged=<range>] [flexible=none]
#     type is bool, int8, int16, uint16, int32, uint32, int64, float64, string,
#     bytes, records, uuid, a struct name, or []<type> for an array. A field of
#     struct type is followed by its own fields, one level deeper.
#   struct <Name>    a struct shared by several fields of one message, defined
#                    at the end of the message; its fields follow one level deeper.
#   A range is "N+" (N and later), "N-M", "N" or "none". String defaults are
#   quoted; default=null means null.
"""


def main():
    if len(sys.argv) != 2:
        sys.stderr.write("usage: import_schemas.py MESSAGES_DIR > kafka.schema\n")
        return 2
    src = sys.argv[1]
    out = [HEADER_TEXT]
    for h in HEADERS:
        emit_message(load(os.path.join(src, h + ".json")), "header", h, out)
    for api in APIS:
        for kind in ("request", "response"):
            doc = load(os.path.join(src, api + kind.capitalize() + ".json"))
            if doc["type"] != kind:
                raise SystemExit("%s: type %s" % (api, doc["type"]))
            emit_message(doc, kind, api, out)
    sys.stdout.write("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
