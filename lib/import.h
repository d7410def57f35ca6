/*
 * import.h - turning tabular and JSON inputs into query records.
 *
 * An importer reads CSV (RFC 4180, through libcsv), TSV, a JSON document
 * holding an array of objects, JSON Lines, or plain text with one query per
 * line. It builds one query record per data row: id, source, label,
 * category, query, reference, the fields mapped with --map, and meta (the
 * unmapped columns). Values of JSON inputs are copied byte for byte; the
 * whitespace of multi-line JSON documents is removed outside strings.
 *
 * The importer never prints. Finished records and bad rows go to the
 * caller's sink; a bad row is passed with its raw text so the caller can
 * apply its error policy, and the sink's return value decides whether the
 * import goes on.
 *
 * Ownership: sr_importer_new copies everything it needs from the options;
 * the importer is freed with sr_importer_free (accepts NULL). Lines and raw
 * rows passed to the sink are borrowed for the duration of the call.
 */
#ifndef SR_IMPORT_H
#define SR_IMPORT_H

#include <stddef.h>
#include <stdint.h>
#include "sr.h"

enum sr_import_format {
	SR_IMPORT_AUTO = 0,
	SR_IMPORT_CSV,
	SR_IMPORT_TSV,
	SR_IMPORT_JSON,   /* one JSON document: an array of objects */
	SR_IMPORT_JSONL,  /* one JSON object per line */
	SR_IMPORT_TEXT,   /* one query per line */
};

/* Name of a format ("csv", ...), or "auto". */
const char *sr_import_format_name(enum sr_import_format f);
/* Parse a format name as given to --format. Returns 0 or SR_EUSAGE. */
int sr_import_format_parse(const char *s, enum sr_import_format *out);
/* Format named by a file's extension (.csv, .tsv/.tab, .json, .jsonl/.ndjson,
 * .txt/.text; a trailing .zst or .zstd is looked through), or SR_IMPORT_AUTO. */
enum sr_import_format sr_import_format_from_name(const char *path);
/* Format guessed from the first bytes of the content (after a BOM):
 * '[' is JSON; '{' is JSON Lines when the first line is a whole JSON value
 * or does not end within data, and a JSON document otherwise; a tab in the
 * first line is TSV, a comma CSV, and anything else plain text. */
enum sr_import_format sr_import_format_sniff(const char *data, size_t len);

/* A field set from an input column: --map FIELD=COLUMN. */
struct sr_import_map {
	const char *field;
	const char *column;
};

/* A label mapping: input values matching pattern (an fnmatch(3) glob, so
 * a plain word matches itself) get label ("harmful" or "benign"). */
struct sr_import_label_map {
	const char *pattern;
	const char *label;
};

struct sr_import_options {
	enum sr_import_format format;   /* SR_IMPORT_AUTO: by name, then content */
	const char *source;             /* NULL: the input file's base name */
	const char *label;              /* a label for every record, or NULL */
	const char *label_field;        /* column holding the label, or NULL */
	const struct sr_import_label_map *label_map;
	size_t nlabel_map;
	const struct sr_import_map *maps;
	size_t nmaps;
	const char *context_column;     /* HarmBench-style context prepended to the query */
	const char *records_pointer;    /* JSON: pointer to the array, e.g. "/items" */
	int no_header;                  /* CSV/TSV: the first row is data */
	int no_meta;                    /* leave unmapped columns out */
	size_t max_bytes;               /* maximum size of a line, row or JSON document */
};

/* The caller's sink. emit receives one record as a JSON line ending in
 * '\n'. bad receives the raw text of a row that could not be imported, with
 * err naming file, line, field and message. Both return 0 to continue or a
 * negative code that stops the import. */
struct sr_import_sink {
	void *ctx;
	int (*emit)(void *ctx, const char *line, size_t len, struct sr_error *err);
	int (*bad)(void *ctx, const char *raw, size_t len, struct sr_error *err);
};

struct sr_importer;

/* Check the options and make an importer. SR_EUSAGE names a bad option. */
int sr_importer_new(const struct sr_import_options *opt, struct sr_importer **out,
                    struct sr_error *err);
/* Import one input ("-" = standard input; zstd is decompressed). Ids are
 * unique across all inputs of one importer; generated ids count the data
 * rows of each source from 1 across inputs. Returns 0 or the first fatal
 * code (a sink's code, an I/O error, or a syntax error that leaves the
 * rest of a CSV or JSON input unreadable). */
int sr_importer_run(struct sr_importer *imp, const char *path, const struct sr_import_sink *sink,
                    struct sr_error *err);
/* Data rows read so far (imported or passed to bad). */
uint64_t sr_importer_rows(const struct sr_importer *imp);
/* Blank lines skipped so far in text and JSON Lines input. */
uint64_t sr_importer_blank_lines(const struct sr_importer *imp);
/* The format the last input was read as. */
enum sr_import_format sr_importer_last_format(const struct sr_importer *imp);
void sr_importer_free(struct sr_importer *imp);

#endif
