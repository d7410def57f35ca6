/*
 * record.h - one JSON Lines record kept as its original bytes.
 *
 * sr_record_parse validates a line strictly (RFC 8259 syntax, UTF-8, a
 * top-level object, no duplicate top-level keys) and indexes its top-level
 * members as byte spans. Nothing is re-serialised unless a tool changes it:
 * sr_record_serialize copies untouched members byte for byte, so numbers
 * such as 12345678901234567890 pass through exactly, and splices in the
 * members that were set. Values are parsed into jansson only on request.
 *
 * Ownership: a record borrows the line it was parsed from, so the line must
 * stay valid while the record is used; sr_record_own() copies it instead.
 * Values returned by sr_record_get are borrowed (owned by the record, valid
 * until the member is changed or the record is reset). sr_record_set steals
 * the reference to the value passed in (like json_object_set_new).
 */
#ifndef SR_RECORD_H
#define SR_RECORD_H

#include <stddef.h>
#include <jansson.h>
#include "sr.h"

struct sr_member {
	const char *key;   /* decoded key, keylen bytes; NOT NUL-terminated */
	size_t keylen;
	const char *raw;   /* original value bytes, or NULL once replaced */
	size_t rawlen;
	json_t *value;     /* parsed or set value (owned), or NULL */
	char *rawcopy;     /* owned bytes behind raw, for sr_record_set_raw */
	int deleted;
};

struct sr_record {
	const char *line;  /* the raw line (borrowed unless owned) */
	size_t len;
	char *owned;       /* copy of the line made by sr_record_own */
	struct sr_member *m;
	size_t n, cap;
	char *keybuf;      /* storage for keys that contained escapes */
	size_t keybuf_len, keybuf_cap;
	int changed;       /* any member set or deleted since parse */
	/* where it came from, for messages */
	const char *file;
	long lineno;
};

void sr_record_init(struct sr_record *rec);
/* Free members and parsed values; keep allocations for reuse. */
void sr_record_reset(struct sr_record *rec);
void sr_record_release(struct sr_record *rec);

/* Validate and index a line. On failure err contains the byte column and a
 * message, and rec is reset. */
int sr_record_parse(struct sr_record *rec, const char *line, size_t len, struct sr_error *err);
/* Start an empty record (serialises as {} plus whatever is set). */
void sr_record_empty(struct sr_record *rec);
/* Copy the borrowed line into the record so it outlives its buffer. */
int sr_record_own(struct sr_record *rec);

/* Borrowed value of a top-level member, parsed on first use (integers too
 * big for json_int_t become reals; they still pass through exactly when not
 * changed). NULL when absent. If the member is present but cannot be parsed,
 * NULL too (cannot happen after a successful sr_record_parse). */
json_t *sr_record_get(struct sr_record *rec, const char *key);
int sr_record_has(const struct sr_record *rec, const char *key);
/* The string value of key, or NULL if absent or not a string. */
const char *sr_record_get_str(struct sr_record *rec, const char *key, size_t *len);
/* Raw bytes of a member's value as it appeared in the input (NULL if the
 * member is absent or has been set). */
const char *sr_record_raw(const struct sr_record *rec, const char *key, size_t *len);

/* Set key to value, stealing the reference; replaces in place (keeping the
 * position) or appends at the end. Returns SR_ENOMEM on failure (value is
 * still consumed). */
int sr_record_set(struct sr_record *rec, const char *key, json_t *value);
/* Set key from already-serialised JSON bytes, copied and written out
 * byte for byte. The bytes are not checked: the caller must pass exactly
 * one valid JSON value (sr_json_validate checks one). */
int sr_record_set_raw(struct sr_record *rec, const char *key, const char *json, size_t len);
int sr_record_del(struct sr_record *rec, const char *key);

/* Number of live members and their keys in order. */
size_t sr_record_count(const struct sr_record *rec);

/* Serialise as one compact JSON line with '\n' appended, into *buf (grown
 * with realloc; *cap updated). Returns the length, or SR_ENOMEM. */
long sr_record_serialize(struct sr_record *rec, char **buf, size_t *cap);

/* Build a jansson object of the whole record (new reference) for code that
 * needs the tree, e.g. schema validation. Big integers become reals. */
json_t *sr_record_to_json(struct sr_record *rec);

/* Parse one JSON value from bytes with the same strictness as
 * sr_record_parse (any top-level type). New reference or NULL with err. */
json_t *sr_json_parse(const char *data, size_t len, struct sr_error *err);
/* Check that data[0..len) is exactly one valid JSON value. Returns 0 or
 * SR_EDATA with err->column set. */
int sr_json_validate(const char *data, size_t len, struct sr_error *err);
/* Serialise compactly (no spaces, UTF-8 kept, '/' not escaped, order kept)
 * and append to *buf. Returns new length or SR_ENOMEM. */
long sr_json_append(const json_t *v, char **buf, size_t *len, size_t *cap);
/* Step through the members of an object, or the items of an array, given
 * as the raw bytes of one valid JSON value (raw[0] is '{' or '['). *pos
 * starts at 0 and is advanced by each call. For objects, *key and *keylen
 * are the key's bytes between its quotes and *key_escaped tells whether
 * they contain escapes; for arrays *key is NULL. Returns 1 with *val and *vallen
 * set to the value's bytes, 0 at the end, or SR_EDATA for malformed bytes. */
int sr_json_raw_next(const char *raw, size_t len, size_t *pos, const char **key, size_t *keylen,
                     int *key_escaped, const char **val, size_t *vallen);
/* Compact dump as a new malloc'd NUL-terminated string. */
char *sr_json_dumps(const json_t *v);

#endif
