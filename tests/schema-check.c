/* schema-check: validate JSON Lines against a schema with libsrkit's
 * validator, printing "valid" or "invalid POINTER: MESSAGE" per line. Used
 * by schema-reference.sh to compare with python3-jsonschema.
 *
 *   schema-check SCHEMA.json < instances.jsonl
 *   schema-check --cases < cases.jsonl   (each line {"schema":..., "instance":...})
 */
#include <stdio.h>
#include <stdlib.h>
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
	int rc, mismatches = 0;

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
		int tree_ok = sr_schema_validate(s, inst, &err) == 0;
		if (tree_ok)
			printf("valid\n");
		else
			printf("invalid %s: %s\n", err.field, err.message);
		/* An object is also checked the way tools check records (member by
		 * member on raw bytes); both paths must agree. */
		if (json_is_object(inst)) {
			struct sr_record rec;
			struct sr_error rerr;
			size_t rawlen = line.len;
			const char *raw = line.data;
			if (cases) {
				struct sr_record outer;
				sr_record_init(&outer);
				sr_record_parse(&outer, line.data, line.len, NULL);
				raw = sr_record_raw(&outer, "instance", &rawlen);
				char *copy = strndup(raw, rawlen);
				sr_record_release(&outer);
				raw = copy;
			}
			sr_record_init(&rec);
			sr_error_clear(&rerr);
			int rec_ok = sr_record_parse(&rec, raw, rawlen, &rerr) == 0 &&
			             sr_schema_validate_record(s, &rec, &rerr) == 0;
			if (rec_ok != tree_ok) {
				fprintf(stderr, "schema-check: line %ld: record path says %s, tree path %s\n",
				        line.lineno, rec_ok ? "valid" : "invalid", tree_ok ? "valid" : "invalid");
				mismatches++;
			}
			sr_record_release(&rec);
			if (cases)
				free((char *)raw);
		}
		if (cases)
			sr_schema_free(s);
		json_decref(doc);
	}
	sr_reader_free(r);
	sr_schema_free(fixed);
	if (mismatches)
		return 4;
	return rc < 0 ? 3 : 0;
}
