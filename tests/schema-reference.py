"""Reference half of schema-reference.sh: validate with python3-jsonschema.

Usage: schema-reference.py check-schema FILE...       (metaschema check)
       schema-reference.py cases < cases.jsonl          (one verdict per line)
       schema-reference.py instances SCHEMA < x.jsonl   (one verdict per line)
"""
import json
import sys

import jsonschema


def verdict(schema, instance):
    validator = jsonschema.Draft202012Validator(schema)
    errors = list(validator.iter_errors(instance))
    return "valid" if not errors else "invalid"


def main():
    mode = sys.argv[1]
    if mode == "check-schema":
        for path in sys.argv[2:]:
            with open(path, encoding="utf-8") as f:
                jsonschema.Draft202012Validator.check_schema(json.load(f))
        return
    if mode == "cases":
        for line in sys.stdin:
            if line.strip():
                case = json.loads(line)
                print(verdict(case["schema"], case["instance"]))
        return
    with open(sys.argv[2], encoding="utf-8") as f:
        schema = json.load(f)
    for line in sys.stdin:
        if line.strip():
            print(verdict(schema, json.loads(line)))


main()
