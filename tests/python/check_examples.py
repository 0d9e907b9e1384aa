"""Every example in the spec validates against its own schema (with
schemathesis's own validator, jsonschema_rs).

OpenAPI 3.0 schemas are read as JSON Schema after two translations: a
`nullable` schema also admits null, and `$ref`s point into the document's
`components`. Exits 1 naming each example that does not validate.
"""

import json
import sys

import jsonschema_rs


def as_json_schema(node):
    """The schema with OpenAPI 3.0's `nullable` said in JSON Schema's words."""
    if isinstance(node, list):
        return [as_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = {k: as_json_schema(v) for k, v in node.items() if k != "example"}
    if node.pop("nullable", False):
        return {"anyOf": [node, {"type": "null"}]}
    return node


def main(path):
    spec = json.load(open(path))
    document = {"components": as_json_schema(spec.get("components", {}))}
    failures, checked = [], 0
    for name, schema in spec.get("components", {}).get("schemas", {}).items():
        if "example" not in schema:
            continue
        checked += 1
        validator = jsonschema_rs.Draft7Validator(
            {**document, "$ref": f"#/components/schemas/{name}"}
        )
        for error in validator.iter_errors(schema["example"]):
            where = "/".join(str(p) for p in error.instance_path)
            failures.append(f"{name}: /{where}: {error.message}")
    for failure in failures:
        print(failure, file=sys.stderr)
    print(f"{checked} examples checked, {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
