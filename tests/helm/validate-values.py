#!/usr/bin/python3
"""Validates merged chart values (JSON, as render --values-out writes them)
against the chart's values.schema.json (draft-07), as helm does before it
renders. Prints each problem with its path and the schema's reason.

usage: validate-values.py SCHEMA.json VALUES.json
Exit: 0 valid, 1 invalid, 2 usage.
"""
import json
import sys

import jsonschema


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    with open(argv[0]) as f:
        schema = json.load(f)
    with open(argv[1]) as f:
        values = json.load(f)
    jsonschema.Draft7Validator.check_schema(schema)
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(values),
                    key=lambda e: list(e.absolute_path))
    for e in errors:
        path = ".".join(str(p) for p in e.absolute_path) or "(root)"
        print("values don't meet the specifications of the schema: %s: %s" % (path, e.message))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
