#!/usr/bin/python3
"""Validates config files against edged's JSON Schema with a real validator (Debian's
python3-jsonschema, Draft 2020-12) and prints {file: [error, ...]} as JSON.

usage: schema_check.py SCHEMA FILE...
A FILE given as k8s:PATH is a Kubernetes manifest: every ConfigMap data entry whose key ends in
.yaml or .json is checked, as PATH#KEY. YAML is read with PyYAML (python3-yaml)."""
import json
import sys

import jsonschema
import yaml


def documents(arg):
    if arg.startswith("k8s:"):
        path = arg[4:]
        with open(path, encoding="utf-8") as f:
            for doc in yaml.safe_load_all(f):
                if not doc or doc.get("kind") != "ConfigMap":
                    continue
                for key, text in (doc.get("data") or {}).items():
                    if key.endswith((".yaml", ".yml", ".json")):
                        yield f"{path}#{key}", yaml.safe_load(text)
        return
    with open(arg, encoding="utf-8") as f:
        text = f.read()
    yield arg, (json.loads(text) if arg.endswith(".json") else yaml.safe_load(text))


def main(schema_path, files):
    with open(schema_path, encoding="utf-8") as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    out = {}
    for arg in files:
        for name, doc in documents(arg):
            if doc is None:
                doc = {}
            out[name] = [
                "/".join(str(p) for p in e.absolute_path) + ": " + e.message
                for e in validator.iter_errors(doc)
            ]
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
