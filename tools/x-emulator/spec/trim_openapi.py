#!/usr/bin/env python3
"""Trim X's OpenAPI document to the operations Reelay uses, plus every component they reference.

Usage (from the repository root, with a local clone or mirror of github.com/xdevplatform/docs):

    git -C DOCS_CLONE show COMMIT:openapi.json \
      | python3 tools/x-emulator/spec/trim_openapi.py COMMIT COMMIT_DATE \
      > tools/x-emulator/spec/x-openapi-subset.json

Only the standard library is used. The output keeps X's text unchanged: the selected path items
hold only the selected methods, and `components` holds only what those operations reference,
followed transitively through every `$ref` (schemas, parameters, responses, securitySchemes).
"""

import json
import sys

# (path, method) pairs Reelay calls. The OAuth token, revoke and authorize endpoints are not in
# X's OpenAPI document, so they cannot be listed here.
OPERATIONS = [
    ("/2/media/upload/initialize", "post"),
    ("/2/media/upload/{id}/append", "post"),
    ("/2/media/upload/{id}/finalize", "post"),
    ("/2/media/upload", "get"),
    ("/2/tweets", "post"),
    ("/2/users/me", "get"),
    ("/2/users/{id}/tweets", "get"),
]


def refs(node):
    """Every `$ref` string inside a JSON value."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from refs(value)
        # Discriminator mappings name schemas too.
        mapping = node.get("discriminator", {}).get("mapping", {}) if isinstance(node.get("discriminator"), dict) else {}
        for value in mapping.values():
            yield value
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: trim_openapi.py COMMIT COMMIT_DATE < openapi.json > subset.json")
    commit, commit_date = sys.argv[1], sys.argv[2]
    spec = json.load(sys.stdin)

    paths = {}
    for path, method in OPERATIONS:
        item = spec["paths"][path]
        kept = paths.setdefault(path, {})
        # Path-level keys (parameters, summary) apply to every method; keep them.
        for key, value in item.items():
            if key not in ("get", "put", "post", "delete", "patch", "head", "options", "trace"):
                kept[key] = value
        kept[method] = item[method]

    components = {}
    pending = list(refs(paths))
    seen = set()
    while pending:
        ref = pending.pop()
        if ref in seen:
            continue
        seen.add(ref)
        if not ref.startswith("#/components/"):
            sys.exit(f"unexpected reference {ref}")
        _, _, kind, name = ref.split("/", 3)
        target = spec["components"][kind][name]
        components.setdefault(kind, {})[name] = target
        pending.extend(refs(target))
    # Security schemes are named, not referenced, by `security`.
    for op in (paths[p][m] for p, m in OPERATIONS):
        for requirement in op.get("security", []):
            for scheme in requirement:
                components.setdefault("securitySchemes", {})[scheme] = spec["components"]["securitySchemes"][scheme]

    for kind in components:
        components[kind] = dict(sorted(components[kind].items()))

    subset = {
        "openapi": spec["openapi"],
        "info": spec["info"],
        "servers": spec.get("servers", []),
        "x-reelay-subset": {
            "source": "https://github.com/xdevplatform/docs/blob/%s/openapi.json" % commit,
            "commit": commit,
            "commit_date": commit_date,
            "operations": ["%s %s" % (m.upper(), p) for p, m in OPERATIONS],
            "trimmed_by": "tools/x-emulator/spec/trim_openapi.py",
        },
        "paths": paths,
        "components": components,
    }
    json.dump(subset, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
