/*
 * sr-passthrough: read records, optionally validate them against a schema
 * and add a member, and write them out, through exactly the library path
 * every srkit tool uses (lib/run.h). It exists for tests of the shared
 * record loop and for the I/O benchmark; it is not installed.
 *
 *   sr-passthrough [--schema NAME|PATH] [--set KEY=JSON] [common options] [FILE...]
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "msg.h"
#include "opt.h"
#include "run.h"
#include "schema.h"

enum { OPT_SCHEMA = SR_OPT_TOOL_BASE, OPT_SET };

static const struct option options[] = {
	{"schema", required_argument, NULL, OPT_SCHEMA},
	{"set", required_argument, NULL, OPT_SET},
	SR_RUN_LONG_OPTIONS,
	{NULL, 0, NULL, 0}
};

int main(int argc, char **argv)
{
	struct sr_run run;
	struct sr_record rec;
	struct sr_error err;
	struct sr_schema *schema = NULL;
	const char *schema_name = NULL, *set = NULL;
	char *set_key = NULL;
	json_t *set_value = NULL;
	int opt, rc;

	sr_run_init(&run, "sr-passthrough");
	sr_error_clear(&err);
	while ((opt = getopt_long(argc, argv, "o:qvhV", options, NULL)) != -1) {
		if ((rc = sr_run_option(&run, opt, optarg)) < 0)
			return SR_EXIT_USAGE;
		if (rc > 0)
			continue;
		switch (opt) {
		case OPT_SCHEMA: schema_name = optarg; break;
		case OPT_SET: set = optarg; break;
		case 'h':
			printf("Usage: sr-passthrough [--schema NAME|PATH] [--set KEY=JSON] [FILE...]\n"
			       "Read records, validate, optionally add KEY, and write them (test tool).\n\n"
			       SR_RUN_HELP);
			return 0;
		case 'V': sr_print_version("sr-passthrough"); return 0;
		default: return sr_msg_usage("unknown option");
		}
	}
	if (schema_name) {
		rc = strchr(schema_name, '/') ? sr_schema_load(schema_name, &schema, &err)
		                              : sr_schema_load_named(schema_name, &schema, &err);
		if (rc < 0)
			return sr_run_exit(&run, rc, &err);
		run.schema = schema;
	}
	if (set) {
		const char *eq = strchr(set, '=');
		if (!eq || eq == set)
			return sr_msg_usage("--set needs KEY=JSON, got '%s'", set);
		set_key = strndup(set, (size_t)(eq - set));
		set_value = sr_json_parse(eq + 1, strlen(eq + 1), &err);
		if (!set_value)
			return sr_msg_usage("--set value is not valid JSON: %s", err.message);
	}
	sr_record_init(&rec);
	if ((rc = sr_run_open(&run, argc - optind, argv + optind, &err)) < 0) {
		if (rc == SR_EUSAGE)
			return sr_msg_usage("%s", err.message);
		return sr_run_exit(&run, rc, &err);
	}
	while ((rc = sr_run_next(&run, &rec, &err)) > 0) {
		if (set_value && (rc = sr_record_set(&rec, set_key, json_incref(set_value))) < 0)
			break;
		if ((rc = sr_run_emit(&run, &rec, &err)) < 0)
			break;
	}
	rc = sr_run_finish(&run, rc, &err);
	sr_record_release(&rec);
	sr_schema_free(schema);
	json_decref(set_value);
	free(set_key);
	return sr_run_exit(&run, rc, &err);
}
