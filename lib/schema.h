/*
 * schema.h - a JSON Schema (draft 2020-12) validator for the subset srkit's
 * schemas use: type, required, properties, additionalProperties (boolean or
 * schema), enum, const, items, minItems, maxItems, minLength, maxLength
 * (in code points), minimum, maximum, pattern (PCRE2, UTF mode), $ref to
 * "#/$defs/NAME" or "#" within the same file, and $defs. Other keywords
 * ($schema, $id, title, description, ...) are ignored. A keyword outside the
 * subset that would change validation (oneOf, anyOf, allOf, not, if,
 * patternProperties, ...) makes sr_schema_load fail, so a schema never
 * silently validates less than it says.
 *
 * Ownership: sr_schema_load returns a new schema freed by sr_schema_free.
 */
#ifndef SR_SCHEMA_H
#define SR_SCHEMA_H

#include <jansson.h>
#include "sr.h"
#include "record.h"

struct sr_schema;

int sr_schema_load(const char *path, struct sr_schema **out, struct sr_error *err);
/* Load schemas/NAME.schema.json from the data directory. */
int sr_schema_load_named(const char *name, struct sr_schema **out, struct sr_error *err);
/* Take a schema from a jansson value (borrowed; a reference is kept). */
int sr_schema_from_json(json_t *doc, const char *name, struct sr_schema **out, struct sr_error *err);
void sr_schema_free(struct sr_schema *s);

/* Validate a value. On failure returns SR_ESCHEMA with err->field set to
 * the JSON Pointer of the failing value and err->message saying why. */
int sr_schema_validate(const struct sr_schema *s, json_t *instance, struct sr_error *err);
/* Validate a record, parsing only the members the schema looks at. */
int sr_schema_validate_record(const struct sr_schema *s, struct sr_record *rec, struct sr_error *err);

#endif
