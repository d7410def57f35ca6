/* schema-check: validate JSON Lines against a schema with libsrkit's
 * validator, printing "valid" or "invalid POINTER: MESSAGE" per line. Used
 * by schema-reference.sh to compare with python3-jsonschema.
 *
 *   schema-check SCHEMA.json < instances.jsonl
 *   schema-check --cases < cases.jsonl   (each line {"schema":..., "instance":...})
 */
#include <stdio.h>
#include <string.h>
#include "jsonl.h"
#include "record.h"
#include "schema.h"

int main(int argc, char **argv)
{
	struct sr_schema *fixed = NULL;
	struct sr_reader *r;
	struct sr_line line;
	struct sr_error err;
	int cases = argc > 1 && strcmp(argv[1], "--cases") == 0;
	int rc;

	sr_error_clear(&err);
	if (argc != 2) {
		fprintf(stderr, "usage: schema-check SCHEMA.json | --cases  < JSONL\n");
		return 2;
	}
	if (!cases && sr_schema_load(argv[1], &fixed, &err) < 0) {
		fprintf(stderr, "schema-check: %s: %s\n", argv[1], err.message);
		return 1;
	}
	if (sr_reader_open("-", 0, &r, &err) < 0)
		return 3;
	while ((rc = sr_reader_next(r, &line, &err)) > 0) {
		json_t *doc = sr_json_parse(line.data, line.len, &err);
		json_t *inst = doc;
		struct sr_schema *s = fixed;
		if (!doc) {
			fprintf(stderr, "schema-check: line %ld: %s\n", line.lineno, err.message);
			return 1;
		}
		if (cases) {
			inst = json_object_get(doc, "instance");
			if (sr_schema_from_json(json_object_get(doc, "schema"), "case", &s, &err) < 0) {
				printf("bad-schema %s\n", err.message);
				json_decref(doc);
				continue;
			}
		}
		sr_error_clear(&err);
		if (sr_schema_validate(s, inst, &err) == 0)
			printf("valid\n");
		else
			printf("invalid %s: %s\n", err.field, err.message);
		if (cases)
			sr_schema_free(s);
		json_decref(doc);
	}
	sr_reader_free(r);
	sr_schema_free(fixed);
	return rc < 0 ? 3 : 0;
}
