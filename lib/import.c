/* import.c - CSV, TSV, JSON, JSON Lines and text inputs to query records. */
#include <csv.h>
#include <stdarg.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "import.h"
#include "io.h"
#include "record.h"
#include "util.h"

#define READ_CHUNK ((size_t)1 << 16)
#define SNIFF_BYTES ((size_t)1 << 16)

/* Column names tried, case-insensitively and in this order, when no
 * --map query=COLUMN is given. */
static const char *const query_columns[] = {
	"query", "prompt", "forbidden_prompt", "instruction", "goal", "behavior",
	"question", "request", "text",
};

/* ---- formats ---- */

static const char *const format_names[] = {"auto", "csv", "tsv", "json", "jsonl", "text"};

const char *sr_import_format_name(enum sr_import_format f)
{
	return (unsigned)f < sizeof format_names / sizeof format_names[0] ? format_names[f] : "?";
}

int sr_import_format_parse(const char *s, enum sr_import_format *out)
{
	size_t i;
	for (i = 0; i < sizeof format_names / sizeof format_names[0]; i++) {
		if (strcmp(s, format_names[i]) == 0) {
			*out = (enum sr_import_format)i;
			return 0;
		}
	}
	if (strcmp(s, "ndjson") == 0 || strcmp(s, "jsonlines") == 0) {
		*out = SR_IMPORT_JSONL;
		return 0;
	}
	if (strcmp(s, "txt") == 0) {
		*out = SR_IMPORT_TEXT;
		return 0;
	}
	return SR_EUSAGE;
}

static int ends_with(const char *s, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);
	return n >= k && strncasecmp(s + n - k, suffix, k) == 0;
}

enum sr_import_format sr_import_format_from_name(const char *path)
{
	size_t n;
	if (!path || strcmp(path, "-") == 0)
		return SR_IMPORT_AUTO;
	n = strlen(path);
	if (ends_with(path, n, ".zst"))
		n -= 4;
	else if (ends_with(path, n, ".zstd"))
		n -= 5;
	if (ends_with(path, n, ".csv"))
		return SR_IMPORT_CSV;
	if (ends_with(path, n, ".tsv") || ends_with(path, n, ".tab"))
		return SR_IMPORT_TSV;
	if (ends_with(path, n, ".jsonl") || ends_with(path, n, ".ndjson"))
		return SR_IMPORT_JSONL;
	if (ends_with(path, n, ".json"))
		return SR_IMPORT_JSON;
	if (ends_with(path, n, ".txt") || ends_with(path, n, ".text"))
		return SR_IMPORT_TEXT;
	return SR_IMPORT_AUTO;
}

static int is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

enum sr_import_format sr_import_format_sniff(const char *data, size_t len)
{
	size_t i = 0, eol;
	if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0)
		i = 3;
	while (i < len && is_ws(data[i]))
		i++;
	if (i == len)
		return SR_IMPORT_TEXT;
	if (data[i] == '[')
		return SR_IMPORT_JSON;
	for (eol = i; eol < len && data[eol] != '\n'; eol++)
		;
	/* A first line longer than the sniffed bytes is taken as one long JSON
	 * Lines record: a pretty-printed document breaks its first line early. */
	if (data[i] == '{')
		return eol == len || sr_json_validate(data + i, eol - i, NULL) == 0 ?
		       SR_IMPORT_JSONL : SR_IMPORT_JSON;
	if (memchr(data + i, '\t', eol - i))
		return SR_IMPORT_TSV;
	if (memchr(data + i, ',', eol - i))
		return SR_IMPORT_CSV;
	return SR_IMPORT_TEXT;
}

/* ---- rows ---- */

/* One input value: text (to be escaped) or raw JSON bytes. */
struct cell {
	const char *key;
	const char *val;
	size_t len;
	int json;
};

struct row {
	struct cell *c;
	size_t n, cap;
	const char *file;
	long line;
	const char *raw;    /* the row as read, for the error policy */
	size_t rawlen;
};

static int row_add(struct row *r, const char *key, const char *val, size_t len, int json)
{
	if (r->n == r->cap) {
		size_t ncap = r->cap ? r->cap * 2 : 16;
		struct cell *nc = realloc(r->c, ncap * sizeof *nc);
		if (!nc)
			return SR_ENOMEM;
		r->c = nc;
		r->cap = ncap;
	}
	r->c[r->n++] = (struct cell){key, val, len, json};
	return 0;
}

/* ---- the id set ---- */

struct id_entry {
	uint64_t hash;
	size_t off, len;  /* the id in idset.text */
	int file;         /* index into importer files */
	long line;
};

struct idset {
	struct id_entry *e;
	size_t n;
	size_t *slot;     /* open addressing: index + 1, 0 = empty */
	size_t nslots;
	struct sr_buf text;
};

static int idset_grow(struct idset *s)
{
	size_t ns = s->nslots ? s->nslots * 2 : 1024, i;
	size_t *slot = calloc(ns, sizeof *slot);
	if (!slot)
		return SR_ENOMEM;
	for (i = 0; i < s->n; i++) {
		size_t j = s->e[i].hash & (ns - 1);
		while (slot[j])
			j = (j + 1) & (ns - 1);
		slot[j] = i + 1;
	}
	free(s->slot);
	s->slot = slot;
	s->nslots = ns;
	struct id_entry *ne = realloc(s->e, ns / 2 * sizeof *ne);
	if (!ne)
		return SR_ENOMEM;
	s->e = ne;
	return 0;
}

/* Add id; when it is already present return 1 and its first entry. */
static int idset_add(struct idset *s, const char *id, size_t len, int file, long line,
                     const struct id_entry **first)
{
	uint64_t h = sr_hash64(id, len, 0x5eed);
	size_t j;
	if (s->n + 1 > s->nslots / 2 && idset_grow(s) < 0)
		return SR_ENOMEM;
	for (j = h & (s->nslots - 1); s->slot[j]; j = (j + 1) & (s->nslots - 1)) {
		const struct id_entry *e = &s->e[s->slot[j] - 1];
		if (e->hash == h && e->len == len && memcmp(s->text.data + e->off, id, len) == 0) {
			*first = e;
			return 1;
		}
	}
	s->e[s->n] = (struct id_entry){h, s->text.len, len, file, line};
	if (sr_buf_append(&s->text, id, len) < 0)
		return SR_ENOMEM;
	s->slot[j] = ++s->n;
	return 0;
}

static void idset_release(struct idset *s)
{
	free(s->e);
	free(s->slot);
	sr_buf_release(&s->text);
}

/* ---- the importer ---- */

struct source_count {
	char *name;
	uint64_t rows;
};

struct sr_importer {
	uint64_t blank_lines;      /* blank lines skipped in text and JSONL input */
	struct sr_import_options opt;   /* strings below are owned copies */
	struct sr_import_map *maps;
	struct sr_import_label_map *lmap;
	char *strings;                  /* storage of the copied option strings */
	const char *label_field;        /* opt.label_field or "label" */
	int label_field_default;

	char **files;
	int nfiles;
	struct source_count *src;
	size_t nsrc;
	struct idset ids;
	uint64_t rows;
	enum sr_import_format last_format;
	int compact;                    /* remove whitespace from JSON values */

	/* per input */
	const char *file;
	const char *source;             /* from the option or the file name */
	char *file_source;
	const struct sr_import_sink *sink;
	struct sr_buf out, tmp, qbuf, sbuf, ibuf, keys;
	struct row row;
	char **header;
	size_t nheader;
	int have_header;
	struct sr_record rec;
};

static const char *const reserved_fields[] = {"meta"};

static int check_label_word(const char *s)
{
	return strcmp(s, "harmful") == 0 || strcmp(s, "benign") == 0;
}

/* Copy every option string into one allocation so the caller's may go. */
static int copy_options(struct sr_importer *imp, const struct sr_import_options *opt)
{
	size_t total = 0, i;
	char *p;
#define STRLEN(s) ((s) ? strlen(s) + 1 : 0)
	total += STRLEN(opt->source) + STRLEN(opt->label) + STRLEN(opt->label_field) +
	         STRLEN(opt->context_column) + STRLEN(opt->records_pointer);
	for (i = 0; i < opt->nmaps; i++)
		total += STRLEN(opt->maps[i].field) + STRLEN(opt->maps[i].column);
	for (i = 0; i < opt->nlabel_map; i++)
		total += STRLEN(opt->label_map[i].pattern) + STRLEN(opt->label_map[i].label);
#undef STRLEN
	imp->opt = *opt;
	imp->strings = p = malloc(total + 1);
	imp->maps = calloc(opt->nmaps + 1, sizeof *imp->maps);
	imp->lmap = calloc(opt->nlabel_map + 1, sizeof *imp->lmap);
	if (!p || !imp->maps || !imp->lmap)
		return SR_ENOMEM;
#define COPY(dst, s) do { if (s) { size_t k_ = strlen(s) + 1; memcpy(p, (s), k_); (dst) = p; p += k_; } \
	else (dst) = NULL; } while (0)
	COPY(imp->opt.source, opt->source);
	COPY(imp->opt.label, opt->label);
	COPY(imp->opt.label_field, opt->label_field);
	COPY(imp->opt.context_column, opt->context_column);
	COPY(imp->opt.records_pointer, opt->records_pointer);
	for (i = 0; i < opt->nmaps; i++) {
		COPY(imp->maps[i].field, opt->maps[i].field);
		COPY(imp->maps[i].column, opt->maps[i].column);
	}
	for (i = 0; i < opt->nlabel_map; i++) {
		COPY(imp->lmap[i].pattern, opt->label_map[i].pattern);
		COPY(imp->lmap[i].label, opt->label_map[i].label);
	}
#undef COPY
	imp->opt.maps = imp->maps;
	imp->opt.label_map = imp->lmap;
	return 0;
}

static const char *map_column(const struct sr_importer *imp, const char *field)
{
	size_t i;
	for (i = 0; i < imp->opt.nmaps; i++)
		if (strcmp(imp->maps[i].field, field) == 0)
			return imp->maps[i].column;
	return NULL;
}

static int check_options(struct sr_importer *imp, struct sr_error *err)
{
	const struct sr_import_options *o = &imp->opt;
	size_t i, j;

	if (o->label && !check_label_word(o->label))
		return sr_fail(err, SR_EUSAGE, "invalid label '%s' (expected harmful or benign)", o->label);
	if (o->label && (o->label_field || map_column(imp, "label")))
		return sr_fail(err, SR_EUSAGE, "give either a fixed label or a label column, not both");
	if (o->source && !*o->source)
		return sr_fail(err, SR_EUSAGE, "empty source name");
	if (o->source && map_column(imp, "source"))
		return sr_fail(err, SR_EUSAGE, "give either a fixed source or a source column, not both");
	for (i = 0; i < o->nmaps; i++) {
		const char *f = imp->maps[i].field, *c = imp->maps[i].column;
		if (!*f || !*c)
			return sr_fail(err, SR_EUSAGE, "invalid mapping '%s=%s': field and column must "
			               "not be empty", f, c);
		for (j = 0; j < sizeof reserved_fields / sizeof reserved_fields[0]; j++)
			if (strcmp(f, reserved_fields[j]) == 0)
				return sr_fail(err, SR_EUSAGE, "field '%s' cannot be mapped: it holds the "
				               "unmapped columns", f);
		for (j = 0; j < i; j++)
			if (strcmp(imp->maps[j].field, f) == 0)
				return sr_fail(err, SR_EUSAGE, "field '%s' is mapped twice", f);
	}
	if (o->label_field && map_column(imp, "label") &&
	    strcmp(o->label_field, map_column(imp, "label")) != 0)
		return sr_fail(err, SR_EUSAGE, "two different label columns given");
	for (i = 0; i < o->nlabel_map; i++) {
		if (!check_label_word(imp->lmap[i].label))
			return sr_fail(err, SR_EUSAGE, "invalid label '%s' in label map entry '%s=%s' "
			               "(expected harmful or benign)", imp->lmap[i].label,
			               imp->lmap[i].pattern, imp->lmap[i].label);
	}
	if (o->records_pointer && o->records_pointer[0] != '/' && o->records_pointer[0])
		return sr_fail(err, SR_EUSAGE, "invalid JSON pointer '%s': it must start with '/'",
		               o->records_pointer);
	if (o->max_bytes == 0)
		imp->opt.max_bytes = (size_t)1 << 30;
	return 0;
}

int sr_importer_new(const struct sr_import_options *opt, struct sr_importer **out,
                    struct sr_error *err)
{
	struct sr_importer *imp = calloc(1, sizeof *imp);
	int rc;

	*out = NULL;
	if (!imp)
		return sr_fail(err, SR_ENOMEM, "out of memory");
	sr_record_init(&imp->rec);
	if ((rc = copy_options(imp, opt)) < 0) {
		sr_importer_free(imp);
		return sr_fail(err, rc, "out of memory");
	}
	if ((rc = check_options(imp, err)) < 0) {
		sr_importer_free(imp);
		return rc;
	}
	imp->label_field = imp->opt.label_field ? imp->opt.label_field : map_column(imp, "label");
	if (!imp->label_field && !imp->opt.label) {
		imp->label_field = "label";
		imp->label_field_default = 1;
	}
	*out = imp;
	return 0;
}

static void free_header(struct sr_importer *imp)
{
	size_t i;
	for (i = 0; i < imp->nheader; i++)
		free(imp->header[i]);
	free(imp->header);
	imp->header = NULL;
	imp->nheader = 0;
	imp->have_header = 0;
}

void sr_importer_free(struct sr_importer *imp)
{
	size_t i;
	if (!imp)
		return;
	for (i = 0; i < (size_t)imp->nfiles; i++)
		free(imp->files[i]);
	free(imp->files);
	for (i = 0; i < imp->nsrc; i++)
		free(imp->src[i].name);
	free(imp->src);
	idset_release(&imp->ids);
	free_header(imp);
	free(imp->row.c);
	sr_buf_release(&imp->out);
	sr_buf_release(&imp->tmp);
	sr_buf_release(&imp->qbuf);
	sr_buf_release(&imp->sbuf);
	sr_buf_release(&imp->ibuf);
	sr_buf_release(&imp->keys);
	sr_record_release(&imp->rec);
	free(imp->file_source);
	free(imp->maps);
	free(imp->lmap);
	free(imp->strings);
	free(imp);
}

uint64_t sr_importer_blank_lines(const struct sr_importer *imp)
{
	return imp->blank_lines;
}

uint64_t sr_importer_rows(const struct sr_importer *imp)
{
	return imp->rows;
}

enum sr_import_format sr_importer_last_format(const struct sr_importer *imp)
{
	return imp->last_format;
}

/* ---- JSON text helpers ---- */

static int append_escaped(struct sr_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, start = 0;
	if (sr_buf_append(b, "\"", 1) < 0)
		return SR_ENOMEM;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[7];
		size_t elen = 2;
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		esc[0] = '\\';
		switch (c) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		default:
			memcpy(esc + 1, "u00", 3);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			elen = 6;
		}
		if (sr_buf_append(b, s + start, i - start) < 0 || sr_buf_append(b, esc, elen) < 0)
			return SR_ENOMEM;
		start = i + 1;
	}
	if (sr_buf_append(b, s + start, n - start) < 0 || sr_buf_append(b, "\"", 1) < 0)
		return SR_ENOMEM;
	return 0;
}

/* Append raw JSON with the whitespace outside strings removed, so values of a
 * pretty-printed document fit on one line; everything else is kept. */
static int append_compact(struct sr_buf *b, const char *s, size_t n)
{
	size_t i, start = 0;
	int in_str = 0;
	for (i = 0; i < n; i++) {
		char c = s[i];
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = 0;
		} else if (c == '"') {
			in_str = 1;
		} else if (is_ws(c)) {
			if (sr_buf_append(b, s + start, i - start) < 0)
				return SR_ENOMEM;
			start = i + 1;
		}
	}
	return sr_buf_append(b, s + start, n - start) < 0 ? SR_ENOMEM : 0;
}

/* Append a cell as a JSON value: text escaped, JSON as it was written, or
 * compacted when it comes from a multi-line document. */
static int append_cell_json(struct sr_buf *b, const struct cell *c, int compact)
{
	if (!c->json)
		return append_escaped(b, c->val, c->len);
	if (compact)
		return append_compact(b, c->val, c->len);
	return sr_buf_append(b, c->val, c->len) < 0 ? SR_ENOMEM : 0;
}

static int append_key(struct sr_buf *b, int *first, const char *key)
{
	if (sr_buf_append(b, *first ? "{" : ",", 1) < 0 || append_escaped(b, key, strlen(key)) < 0 ||
	    sr_buf_append(b, ":", 1) < 0)
		return SR_ENOMEM;
	*first = 0;
	return 0;
}

enum value_kind { V_TEXT, V_NULL, V_SCALAR, V_COMPOUND };

/* The text of a cell: a text cell as is, a JSON string decoded (into buf
 * when it has escapes), a number or boolean as its JSON text. Returns the
 * kind; V_NULL and V_COMPOUND leave *s unset. */
static int cell_text(const struct cell *c, struct sr_buf *buf, const char **s, size_t *n)
{
	if (!c->json) {
		*s = c->val;
		*n = c->len;
		return V_TEXT;
	}
	switch (c->val[0]) {
	case '"':
		if (!memchr(c->val, '\\', c->len)) {
			*s = c->val + 1;
			*n = c->len - 2;
			return V_TEXT;
		} else {
			json_t *v = sr_json_parse(c->val, c->len, NULL);
			sr_buf_reset(buf);
			if (!v || sr_buf_append(buf, json_string_value(v), json_string_length(v)) < 0) {
				json_decref(v);
				return SR_ENOMEM;
			}
			json_decref(v);
			*s = buf->data;
			*n = buf->len;
			return V_TEXT;
		}
	case 'n':
		return V_NULL;
	case '{':
	case '[':
		return V_COMPOUND;
	default:
		*s = c->val;
		*n = c->len;
		return V_SCALAR;
	}
}

static int only_space(const char *s, size_t n)
{
	size_t i;
	for (i = 0; i < n; i++)
		if (!is_ws(s[i]))
			return 0;
	return 1;
}

/* ---- building one record ---- */

static const struct cell *find_cell(const struct row *r, const char *name, int nocase, size_t *idx)
{
	size_t i;
	for (i = 0; i < r->n; i++) {
		if (nocase ? strcasecmp(r->c[i].key, name) == 0 : strcmp(r->c[i].key, name) == 0) {
			if (idx)
				*idx = i;
			return &r->c[i];
		}
	}
	return NULL;
}

/* Index of the query column: the mapped one, or the first known name. */
static const struct cell *query_cell(const struct sr_importer *imp, const struct row *r, size_t *idx)
{
	const char *col = map_column(imp, "query");
	size_t i;
	if (col)
		return find_cell(r, col, 0, idx);
	for (i = 0; i < sizeof query_columns / sizeof query_columns[0]; i++) {
		const struct cell *c = find_cell(r, query_columns[i], 1, idx);
		if (c)
			return c;
	}
	return NULL;
}

static int row_error(struct sr_importer *imp, const struct row *r, struct sr_error *err,
                     const char *field, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Report a bad row to the sink: 0 to go on, or the code to stop with. */
static int row_error(struct sr_importer *imp, const struct row *r, struct sr_error *err,
                     const char *field, const char *fmt, ...)
{
	va_list ap;
	sr_error_clear(err);
	if (err) {
		err->code = SR_EDATA;
		va_start(ap, fmt);
		vsnprintf(err->message, sizeof err->message, fmt, ap);
		va_end(ap);
		snprintf(err->file, sizeof err->file, "%s", r->file);
		err->line = r->line;
		if (field)
			snprintf(err->field, sizeof err->field, "%s", field);
	}
	return imp->sink->bad(imp->sink->ctx, r->raw, r->rawlen, err);
}

static uint64_t next_row_number(struct sr_importer *imp, const char *source, size_t len, int *rc)
{
	size_t i;
	for (i = 0; i < imp->nsrc; i++)
		if (strlen(imp->src[i].name) == len && memcmp(imp->src[i].name, source, len) == 0)
			return ++imp->src[i].rows;
	struct source_count *ns = realloc(imp->src, (imp->nsrc + 1) * sizeof *ns);
	if (!ns || !(ns[imp->nsrc].name = strndup(source, len))) {
		if (ns)
			imp->src = ns;
		*rc = SR_ENOMEM;
		return 0;
	}
	imp->src = ns;
	ns[imp->nsrc].rows = 1;
	return ns[imp->nsrc++].rows;
}

static const char *map_label(const struct sr_importer *imp, const char *s, size_t n, char *word,
                             size_t cap)
{
	size_t i;
	snprintf(word, cap, "%.*s", (int)(n < cap ? n : cap - 1), s);
	if (imp->opt.nlabel_map == 0)
		return check_label_word(word) && n < cap ? (strcmp(word, "harmful") == 0 ? "harmful" : "benign") : NULL;
	for (i = 0; i < imp->opt.nlabel_map; i++)
		if (strcmp(imp->lmap[i].pattern, word) == 0)
			return imp->lmap[i].label;
	for (i = 0; i < imp->opt.nlabel_map; i++)
		if (fnmatch(imp->lmap[i].pattern, word, 0) == 0)
			return imp->lmap[i].label;
	return NULL;
}

/* Count a data row that is passed to bad() before build_record, so that the
 * generated ids of the rows after it do not depend on the error policy. */
static int skip_row(struct sr_importer *imp)
{
	int rc = 0;
	imp->rows++;
	if (!map_column(imp, "source"))
		next_row_number(imp, imp->source, strlen(imp->source), &rc);
	return rc;
}

/* The record being built from one row. */
struct build {
	struct sr_importer *imp;
	struct row *r;
	struct sr_error *err;
	struct sr_buf *out;
	unsigned char *used;     /* per cell: taken by a record member */
	int first;               /* no member written yet */
	const char *src;         /* the record's source */
	size_t srclen;
	uint64_t rowno;          /* the row's number within its source */
	const struct cell *qc;   /* the query cell and its text */
	const char *qs;
	size_t qn;
	int sink_rc;             /* what bad() returned for a rejected row */
};

/* Step results: 0 = done, BAD_ROW = the row was passed to bad(), <0 = fatal. */
#define BAD_ROW 1

static int reject(struct build *bd, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int reject(struct build *bd, const char *field, const char *fmt, ...)
{
	char msg[sizeof bd->err->message];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	bd->sink_rc = row_error(bd->imp, bd->r, bd->err, field, "%s", msg);
	return BAD_ROW;
}

static int nomem(struct build *bd)
{
	return sr_fail(bd->err, SR_ENOMEM, "out of memory");
}

/* Find a member's cell: the column mapped to field, else a column of that
 * name (any case). *mapped tells which; the cell is marked used. */
static const struct cell *take_cell(struct build *bd, const char *field, const char **mapped)
{
	const char *col = map_column(bd->imp, field);
	size_t idx;
	const struct cell *c = col ? find_cell(bd->r, col, 0, &idx) : find_cell(bd->r, field, 1, &idx);
	if (mapped)
		*mapped = col;
	if (c)
		bd->used[idx] = 1;
	return c;
}

/* Append a cell's value as a JSON string: a JSON string as written, any
 * other text escaped. */
static int append_as_string(struct build *bd, const struct cell *c, int kind, const char *s, size_t n)
{
	if (kind == V_TEXT && c->json)
		return sr_buf_append(bd->out, c->val, c->len) < 0 ? SR_ENOMEM : 0;
	return append_escaped(bd->out, s, n);
}

/* The source (fixed, from a column, or from the file name) and the row
 * number within it. */
static int step_source(struct build *bd)
{
	const char *col = map_column(bd->imp, "source");
	int rc = 0;

	if (col) {
		const struct cell *c = take_cell(bd, "source", NULL);
		if (!c || cell_text(c, &bd->imp->sbuf, &bd->src, &bd->srclen) != V_TEXT ||
		    only_space(bd->src, bd->srclen))
			return reject(bd, col, "missing or empty source column");
	} else {
		bd->src = bd->imp->source;
		bd->srclen = strlen(bd->src);
	}
	bd->rowno = next_row_number(bd->imp, bd->src, bd->srclen, &rc);
	return rc < 0 ? nomem(bd) : 0;
}

static int step_query(struct build *bd)
{
	size_t idx;
	const char *col = map_column(bd->imp, "query");
	int kind;

	if (!(bd->qc = query_cell(bd->imp, bd->r, &idx))) {
		if (col)
			return reject(bd, col, "missing query column");
		return reject(bd, "query", "no query column (looked for query, prompt, "
		              "forbidden_prompt, instruction, goal, behavior, question, request, "
		              "text); name it with --map query=COLUMN");
	}
	bd->used[idx] = 1;
	kind = cell_text(bd->qc, &bd->imp->qbuf, &bd->qs, &bd->qn);
	if (kind < 0)
		return nomem(bd);
	if (kind != V_TEXT)
		return reject(bd, bd->qc->key, "query is not a string");
	if (only_space(bd->qs, bd->qn))
		return reject(bd, bd->qc->key, "empty query");
	return 0;
}

/* The id: from the id column, else SOURCE-ROW. Ids must be unique. */
static int step_id(struct build *bd)
{
	struct sr_importer *imp = bd->imp;
	const char *col, *id;
	size_t idlen;
	const struct cell *c = take_cell(bd, "id", &col);
	const struct id_entry *dup;
	int kind, rc;

	if (col && !c)
		return reject(bd, col, "missing id column");
	if (append_key(bd->out, &bd->first, "id") < 0)
		return nomem(bd);
	if (c) {
		kind = cell_text(c, &imp->ibuf, &id, &idlen);
		if (kind < 0)
			return nomem(bd);
		if (kind != V_TEXT && kind != V_SCALAR)
			return reject(bd, c->key, "id is not a string or number");
		if (idlen == 0)
			return reject(bd, c->key, "empty id");
		if (append_as_string(bd, c, kind, id, idlen) < 0)
			return nomem(bd);
	} else {
		sr_buf_reset(&imp->ibuf);
		if (sr_buf_append(&imp->ibuf, bd->src, bd->srclen) < 0 ||
		    sr_buf_printf(&imp->ibuf, "-%llu", (unsigned long long)bd->rowno) < 0)
			return nomem(bd);
		id = imp->ibuf.data;
		idlen = imp->ibuf.len;
		if (append_escaped(bd->out, id, idlen) < 0)
			return nomem(bd);
	}
	if ((rc = idset_add(&imp->ids, id, idlen, imp->nfiles - 1, bd->r->line, &dup)) < 0)
		return nomem(bd);
	if (rc == 1)
		return reject(bd, c ? c->key : "id", "duplicate id '%.*s%s' (first at %s:%ld)",
		              (int)(idlen > 40 ? 40 : idlen), id, idlen > 40 ? "..." : "",
		              imp->files[dup->file], dup->line);
	return 0;
}

static int step_label(struct build *bd)
{
	struct sr_importer *imp = bd->imp;
	const struct cell *c;
	const char *s, *label;
	size_t n, idx;
	char word[256];
	int kind;

	if (append_key(bd->out, &bd->first, "label") < 0)
		return nomem(bd);
	if (imp->opt.label)
		return sr_buf_printf(bd->out, "\"%s\"", imp->opt.label) < 0 ? nomem(bd) : 0;
	if (!(c = find_cell(bd->r, imp->label_field, imp->label_field_default, &idx))) {
		if (!imp->label_field_default)
			return reject(bd, imp->label_field, "missing label column");
		/* No label anywhere is a usage error, not a bad row. */
		sr_fail(bd->err, SR_EUSAGE, "no label: the input has no 'label' column or field; "
		        "give --label harmful|benign or --label-field COLUMN");
		if (bd->err) {
			snprintf(bd->err->file, sizeof bd->err->file, "%s", bd->r->file);
			bd->err->line = bd->r->line;
		}
		return SR_EUSAGE;
	}
	bd->used[idx] = 1;
	kind = cell_text(c, &imp->tmp, &s, &n);
	if (kind < 0)
		return nomem(bd);
	if (kind != V_TEXT && kind != V_SCALAR)
		return reject(bd, c->key, "label is not a string, number or boolean");
	if (!(label = map_label(imp, s, n, word, sizeof word))) {
		if (imp->opt.nlabel_map)
			return reject(bd, c->key, "label value '%s' matches no --label-map entry", word);
		return reject(bd, c->key, "label value '%s' is not harmful or benign; translate it "
		              "with --label-map VALUE=harmful|benign,...", word);
	}
	return sr_buf_printf(bd->out, "\"%s\"", label) < 0 ? nomem(bd) : 0;
}

/* An optional string member (category, reference): left out when the cell
 * is absent, empty or null. */
static int step_optional(struct build *bd, const char *field)
{
	const struct cell *c = take_cell(bd, field, NULL);
	const char *s;
	size_t n;
	int kind;

	if (!c)
		return 0;
	kind = cell_text(c, &bd->imp->tmp, &s, &n);
	if (kind < 0)
		return nomem(bd);
	if (kind == V_COMPOUND)
		return reject(bd, c->key, "%s is not a string", field);
	if (kind == V_NULL || n == 0)
		return 0;
	if (append_key(bd->out, &bd->first, field) < 0 || append_as_string(bd, c, kind, s, n) < 0)
		return nomem(bd);
	return 0;
}

/* The query member, with the context column's text in front when given. */
static int step_query_member(struct build *bd)
{
	struct sr_importer *imp = bd->imp;
	const struct cell *ctx = NULL;
	const char *cs = NULL;
	size_t cn = 0, idx;
	int kind, rc = 0;

	if (imp->opt.context_column && (ctx = find_cell(bd->r, imp->opt.context_column, 0, &idx))) {
		bd->used[idx] = 1;
		kind = cell_text(ctx, &imp->tmp, &cs, &cn);
		if (kind < 0)
			return nomem(bd);
		if (kind != V_TEXT && kind != V_NULL)
			return reject(bd, ctx->key, "context is not a string");
	}
	if (append_key(bd->out, &bd->first, "query") < 0)
		return nomem(bd);
	if (!cs || only_space(cs, cn))
		return append_cell_json(bd->out, bd->qc, imp->compact) < 0 ? nomem(bd) : 0;

	struct sr_buf q = {0};
	if (sr_buf_append(&q, cs, cn) < 0 || sr_buf_puts(&q, "\n\n---\n\n") < 0 ||
	    sr_buf_append(&q, bd->qs, bd->qn) < 0 || append_escaped(bd->out, q.data, q.len) < 0)
		rc = nomem(bd);
	sr_buf_release(&q);
	return rc;
}

/* The other mapped fields in the order given, then meta: every column not
 * taken by a member, in input order. */
static int step_rest(struct build *bd)
{
	struct sr_importer *imp = bd->imp;
	static const char *const special[] = {"id", "query", "label", "category", "reference", "source"};
	const struct cell *c;
	size_t i, j, idx;

	for (i = 0; i < imp->opt.nmaps; i++) {
		const char *f = imp->maps[i].field;
		int skip = 0;
		for (j = 0; j < sizeof special / sizeof special[0]; j++)
			skip |= strcmp(f, special[j]) == 0;
		if (skip || !(c = find_cell(bd->r, imp->maps[i].column, 0, &idx)))
			continue;
		bd->used[idx] = 1;
		if (append_key(bd->out, &bd->first, f) < 0 || append_cell_json(bd->out, c, imp->compact) < 0)
			return nomem(bd);
	}
	if (imp->opt.no_meta)
		return 0;

	int mfirst = 1;
	if (append_key(bd->out, &bd->first, "meta") < 0)
		return nomem(bd);
	for (i = 0; i < bd->r->n; i++) {
		if (bd->used[i])
			continue;
		if (append_key(bd->out, &mfirst, bd->r->c[i].key) < 0 ||
		    append_cell_json(bd->out, &bd->r->c[i], imp->compact) < 0)
			return nomem(bd);
	}
	return sr_buf_puts(bd->out, mfirst ? "{}" : "}") < 0 ? nomem(bd) : 0;
}

/*
 * Build one query record from a row and pass it to the sink, or pass the
 * row to the sink's bad(). Returns 0 to go on or a code to stop with.
 * The checks run before the members are written in record order: id,
 * source, label, category, query, reference, mapped fields, meta.
 */
static int build_record(struct sr_importer *imp, struct row *r, struct sr_error *err)
{
	unsigned char used_small[64];
	struct build bd = {imp, r, err, &imp->out, NULL, 1, NULL, 0, 0, NULL, NULL, 0, 0};
	int rc;

	bd.used = r->n <= sizeof used_small ? used_small : calloc(r->n, 1);
	if (!bd.used)
		return sr_fail(err, SR_ENOMEM, "out of memory");
	memset(bd.used, 0, r->n);
	imp->rows++;
	sr_buf_reset(&imp->out);

	if ((rc = step_source(&bd)) == 0 && (rc = step_query(&bd)) == 0 && (rc = step_id(&bd)) == 0) {
		if (append_key(bd.out, &bd.first, "source") < 0 ||
		    append_escaped(bd.out, bd.src, bd.srclen) < 0)
			rc = nomem(&bd);
	}
	if (rc == 0 && (rc = step_label(&bd)) == 0 && (rc = step_optional(&bd, "category")) == 0 &&
	    (rc = step_query_member(&bd)) == 0 && (rc = step_optional(&bd, "reference")) == 0 &&
	    (rc = step_rest(&bd)) == 0) {
		if (sr_buf_puts(bd.out, "}\n") < 0)
			rc = nomem(&bd);
		else
			rc = imp->sink->emit(imp->sink->ctx, bd.out->data, bd.out->len, err);
	} else if (rc == BAD_ROW) {
		rc = bd.sink_rc;
	}
	if (bd.used != used_small)
		free(bd.used);
	return rc;
}

/* ---- reading lines ---- */

/* A line splitter over an input with a cap on the line length. The BOM at
 * the start of the input is dropped. */
struct lines {
	struct sr_input *in;
	char *buf;
	size_t start, end, cap, scan;
	int eof;
	long lineno;
	size_t max;
};

static int lines_fill(struct lines *L, struct sr_error *err)
{
	ssize_t k;
	if (L->start > 0) {
		memmove(L->buf, L->buf + L->start, L->end - L->start);
		L->end -= L->start;
		L->scan -= L->start;
		L->start = 0;
	}
	if (L->cap - L->end < READ_CHUNK + 1) {
		size_t ncap = L->cap ? L->cap * 2 : READ_CHUNK * 4;
		char *nb = realloc(L->buf, ncap);
		if (!nb)
			return sr_fail(err, SR_ENOMEM, "out of memory");
		L->buf = nb;
		L->cap = ncap;
	}
	k = sr_input_read(L->in, L->buf + L->end, L->cap - L->end - 1, err);
	if (k < 0)
		return (int)k;
	if (k == 0)
		L->eof = 1;
	L->end += (size_t)k;
	L->buf[L->end] = '\0';
	return 0;
}

static int lines_open(struct lines *L, const char *path, size_t max, struct sr_error *err)
{
	int rc;
	memset(L, 0, sizeof *L);
	L->max = max;
	if ((rc = sr_input_open(path, &L->in, err)) < 0)
		return rc;
	while (!L->eof && L->end < SNIFF_BYTES)
		if ((rc = lines_fill(L, err)) < 0)
			return rc;
	if (L->end >= 3 && memcmp(L->buf, "\xEF\xBB\xBF", 3) == 0)
		L->start = L->scan = 3;
	return 0;
}

static void lines_close(struct lines *L)
{
	sr_input_free(L->in);
	free(L->buf);
}

/* Next physical line with its '\n' (absent on a last line without one):
 * 1 = *line set, 0 = end of input. The line is NUL-terminated. */
static int lines_next(struct lines *L, char **line, size_t *len, struct sr_error *err)
{
	int rc;
	for (;;) {
		char *nl = memchr(L->buf + L->scan, '\n', L->end - L->scan);
		if (nl || (L->eof && L->end > L->start)) {
			size_t e = nl ? (size_t)(nl - L->buf) + 1 : L->end;
			if (e - L->start > L->max)
				break;
			*line = L->buf + L->start;
			*len = e - L->start;
			L->start = L->scan = e;
			L->lineno++;
			return 1;
		}
		if (L->eof)
			return 0;
		L->scan = L->end;
		if (L->end - L->start > L->max)
			break;
		if ((rc = lines_fill(L, err)) < 0)
			return rc;
	}
	sr_fail(err, SR_ETOOBIG, "line longer than the limit of %zu bytes (see --max-line)", L->max);
	if (err) {
		snprintf(err->file, sizeof err->file, "%s", sr_input_name(L->in));
		err->line = L->lineno + 1;
	}
	return SR_ETOOBIG;
}

/* The content of a line without its line terminator. */
static size_t chomp(const char *line, size_t len)
{
	if (len && line[len - 1] == '\n')
		len--;
	if (len && line[len - 1] == '\r')
		len--;
	return len;
}

static int fail_at(struct sr_error *err, int code, const char *file, long line, long col,
                   const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static int fail_at(struct sr_error *err, int code, const char *file, long line, long col,
                   const char *fmt, ...)
{
	va_list ap;
	sr_error_clear(err);
	if (!err)
		return code;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof err->message, fmt, ap);
	va_end(ap);
	snprintf(err->file, sizeof err->file, "%s", file);
	err->line = line;
	err->column = col;
	return code;
}

/* ---- header handling for CSV and TSV ---- */

static int set_header(struct sr_importer *imp, struct row *r, struct sr_error *err)
{
	size_t i, j;
	free_header(imp);
	imp->header = calloc(r->n ? r->n : 1, sizeof *imp->header);
	if (!imp->header)
		return sr_fail(err, SR_ENOMEM, "out of memory");
	for (i = 0; i < r->n; i++) {
		if (imp->opt.no_header || r->c[i].len == 0) {
			char name[32];
			snprintf(name, sizeof name, "column_%zu", i + 1);
			imp->header[i] = strdup(name);
		} else {
			imp->header[i] = strndup(r->c[i].val, r->c[i].len);
		}
		if (!imp->header[i])
			return sr_fail(err, SR_ENOMEM, "out of memory");
		imp->nheader = i + 1;
		for (j = 0; j < i; j++)
			if (strcmp(imp->header[j], imp->header[i]) == 0)
				return fail_at(err, SR_EDATA, r->file, r->line, 0,
				               "duplicate column name '%s' in the header", imp->header[i]);
	}
	imp->have_header = 1;
	return 0;
}

/* Check that every column the options name is in the header. */
static int check_header(struct sr_importer *imp, const char *file, struct sr_error *err)
{
	struct row h = {0};
	struct sr_buf cols = {0};
	size_t i;
	int rc = 0;
	const char *missing = NULL, *what = NULL;

	for (i = 0; i < imp->nheader; i++)
		if (row_add(&h, imp->header[i], "", 0, 0) < 0 ||
		    sr_buf_printf(&cols, "%s'%s'", i ? ", " : "", imp->header[i]) < 0)
			rc = SR_ENOMEM;
	if (rc < 0)
		goto out;
	for (i = 0; i < imp->opt.nmaps && !missing; i++)
		if (!find_cell(&h, imp->maps[i].column, 0, NULL)) {
			missing = imp->maps[i].column;
			what = imp->maps[i].field;
		}
	if (!missing && imp->opt.label_field && !find_cell(&h, imp->opt.label_field, 0, NULL)) {
		missing = imp->opt.label_field;
		what = "label";
	}
	if (!missing && imp->opt.context_column && !find_cell(&h, imp->opt.context_column, 0, NULL)) {
		missing = imp->opt.context_column;
		what = "context";
	}
	if (missing) {
		rc = fail_at(err, SR_ENOTFOUND, file, 1, 0, "column '%s' (for %s) not found; the "
		             "columns are %s", missing, what, cols.data ? cols.data : "(none)");
		goto out;
	}
	if (!query_cell(imp, &h, NULL)) {
		rc = fail_at(err, SR_EUSAGE, file, 1, 0, "no query column among %s; name it with "
		             "--map query=COLUMN", cols.data ? cols.data : "(none)");
		goto out;
	}
	if (imp->label_field_default && !find_cell(&h, "label", 1, NULL))
		rc = fail_at(err, SR_EUSAGE, file, 1, 0, "no label: the input has no 'label' column; "
		             "give --label harmful|benign or --label-field COLUMN");
out:
	free(h.c);
	sr_buf_release(&cols);
	return rc;
}

/* Handle one row of a CSV or TSV input, given as values in r->c (keys unset). */
static int table_row(struct sr_importer *imp, struct row *r, struct sr_error *err)
{
	size_t i;
	int rc;
	if (!imp->have_header) {
		if ((rc = set_header(imp, r, err)) < 0 || (rc = check_header(imp, r->file, err)) < 0)
			return rc;
		if (!imp->opt.no_header)
			return 0;
	}
	if (r->n != imp->nheader) {
		if (skip_row(imp) < 0)
			return sr_fail(err, SR_ENOMEM, "out of memory");
		return row_error(imp, r, err, NULL, "row has %zu field%s, but the header has %zu",
		                 r->n, r->n == 1 ? "" : "s", imp->nheader);
	}
	for (i = 0; i < r->n; i++)
		r->c[i].key = imp->header[i];
	return build_record(imp, r, err);
}

/* ---- CSV through libcsv ---- */

struct csv_state {
	struct sr_importer *imp;
	struct sr_error *err;
	struct sr_buf vals;         /* field values, each NUL-terminated */
	size_t *off, noff, capoff;  /* where each field starts in vals */
	struct sr_buf raw;          /* the physical lines of the current row */
	long row_line;
	long bad_col;               /* invalid UTF-8 in the row: its line and column */
	long bad_line;
	int rc;                     /* first code that stops the import */
};

static void csv_field(void *s, size_t len, void *data)
{
	struct csv_state *st = data;
	if (st->rc < 0)
		return;
	if (st->noff == st->capoff) {
		size_t ncap = st->capoff ? st->capoff * 2 : 32;
		size_t *no = realloc(st->off, ncap * sizeof *no);
		if (!no) {
			st->rc = sr_fail(st->err, SR_ENOMEM, "out of memory");
			return;
		}
		st->off = no;
		st->capoff = ncap;
	}
	st->off[st->noff++] = st->vals.len;
	if (sr_buf_append(&st->vals, s ? s : "", s ? len : 0) < 0 ||
	    sr_buf_append(&st->vals, "", 1) < 0)
		st->rc = sr_fail(st->err, SR_ENOMEM, "out of memory");
}

static void csv_row(int c, void *data)
{
	struct csv_state *st = data;
	struct sr_importer *imp = st->imp;
	struct row *r = &imp->row;
	size_t i;
	int rc;

	(void)c;
	if (st->rc < 0)
		goto done;
	r->n = 0;
	r->file = imp->file;
	r->line = st->row_line;
	r->raw = st->raw.data ? st->raw.data : "";
	r->rawlen = chomp(r->raw, st->raw.len);
	for (i = 0; i < st->noff; i++) {
		size_t end = i + 1 < st->noff ? st->off[i + 1] - 1 : st->vals.len - 1;
		if (row_add(r, NULL, st->vals.data + st->off[i], end - st->off[i], 0) < 0) {
			st->rc = sr_fail(st->err, SR_ENOMEM, "out of memory");
			goto done;
		}
	}
	if (st->bad_line) {
		if ((imp->have_header || imp->opt.no_header) && skip_row(imp) < 0) {
			st->rc = sr_fail(st->err, SR_ENOMEM, "out of memory");
			goto done;
		}
		sr_error_clear(st->err);
		if (!imp->have_header && !imp->opt.no_header) {
			st->rc = fail_at(st->err, SR_EDATA, imp->file, st->bad_line, st->bad_col,
			                 "invalid UTF-8 in the header");
			goto done;
		}
		fail_at(st->err, SR_EDATA, imp->file, st->bad_line, st->bad_col, "invalid UTF-8");
		rc = imp->sink->bad(imp->sink->ctx, r->raw, r->rawlen, st->err);
	} else {
		rc = table_row(imp, r, st->err);
	}
	if (rc < 0)
		st->rc = rc;
done:
	st->noff = 0;
	sr_buf_reset(&st->vals);
	st->bad_line = 0;
}

/* libcsv drops spaces around unquoted fields by default; RFC 4180 keeps them. */
static int no_space(unsigned char c)
{
	(void)c;
	return 0;
}

static int import_csv(struct sr_importer *imp, struct lines *L, struct sr_error *err)
{
	struct csv_parser p;
	struct csv_state st = {0};
	char *line;
	size_t len;
	int rc;

	st.imp = imp;
	st.err = err;
	if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL) != 0)
		return sr_fail(err, SR_ENOMEM, "out of memory");
	csv_set_space_func(&p, no_space);
	while ((rc = lines_next(L, &line, &len, err)) > 0) {
		/* A row begins only where the parser is between rows, which is how
		 * rows spanning several lines keep their first line number.
		 * NOTE: pstate 0 is libcsv's ROW_NOT_BEGUN. The field is in the
		 * public struct, but its values are not documented; test-import
		 * checks the line numbers of multi-line rows. */
		if (p.pstate == 0) {
			sr_buf_reset(&st.raw);
			st.row_line = L->lineno;
		}
		if (st.raw.len + len > imp->opt.max_bytes) {
			rc = fail_at(err, SR_ETOOBIG, imp->file, st.row_line, 0, "row longer than the "
			             "limit of %zu bytes (see --max-line)", imp->opt.max_bytes);
			break;
		}
		if (sr_buf_append(&st.raw, line, len) < 0) {
			rc = sr_fail(err, SR_ENOMEM, "out of memory");
			break;
		}
		size_t valid = sr_utf8_valid_prefix(line, len);
		if (valid < len && !st.bad_line) {
			st.bad_line = L->lineno;
			st.bad_col = (long)valid + 1;
		}
		size_t done = csv_parse(&p, line, len, csv_field, csv_row, &st);
		if (st.rc < 0) {
			rc = st.rc;
			break;
		}
		if (done != len) {
			rc = fail_at(err, SR_EDATA, imp->file, L->lineno, (long)done + 1,
			             "malformed CSV: a quote inside a quoted field must be doubled, "
			             "and a quoted field must end at a comma or line end");
			break;
		}
	}
	if (rc == 0) {
		if (csv_fini(&p, csv_field, csv_row, &st) != 0)
			rc = fail_at(err, SR_EDATA, imp->file, st.row_line, 0,
			             "malformed CSV: quoted field not closed before the end of the input");
		else if (st.rc < 0)
			rc = st.rc;
	}
	csv_free(&p);
	free(st.off);
	sr_buf_release(&st.vals);
	sr_buf_release(&st.raw);
	return rc;
}

/* ---- TSV, text and JSON Lines: one record per line ---- */

static int bad_utf8(struct sr_importer *imp, const char *line, size_t len, long lineno,
                    struct sr_error *err)
{
	size_t valid = sr_utf8_valid_prefix(line, len);
	if (valid == len)
		return 0;
	fail_at(err, SR_EDATA, imp->file, lineno, (long)valid + 1, "invalid UTF-8");
	return 1;
}

static int import_tsv(struct sr_importer *imp, struct lines *L, struct sr_error *err)
{
	struct row *r = &imp->row;
	char *line;
	size_t len;
	int rc;

	while ((rc = lines_next(L, &line, &len, err)) > 0) {
		len = chomp(line, len);
		line[len] = '\0';
		if (len == 0)
			continue;
		r->n = 0;
		r->file = imp->file;
		r->line = L->lineno;
		r->raw = line;
		r->rawlen = len;
		if (bad_utf8(imp, line, len, L->lineno, err)) {
			if (!imp->have_header && !imp->opt.no_header)
				return err ? err->code : SR_EDATA;
			if (skip_row(imp) < 0)
				return sr_fail(err, SR_ENOMEM, "out of memory");
			if ((rc = imp->sink->bad(imp->sink->ctx, line, len, err)) < 0)
				return rc;
			continue;
		}
		/* Fields are split in place: each tab becomes the end of a value. */
		char *p = line, *tab;
		while ((tab = memchr(p, '\t', len - (size_t)(p - line)))) {
			*tab = '\0';
			if (row_add(r, NULL, p, (size_t)(tab - p), 0) < 0)
				return sr_fail(err, SR_ENOMEM, "out of memory");
			p = tab + 1;
		}
		if (row_add(r, NULL, p, len - (size_t)(p - line), 0) < 0)
			return sr_fail(err, SR_ENOMEM, "out of memory");
		/* The raw row for the quarantine file gets its tabs back. */
		for (size_t i = 0; i + 1 < r->n; i++)
			line[r->c[i + 1].val - line - 1] = '\t';
		if ((rc = table_row(imp, r, err)) < 0)
			return rc;
	}
	return rc;
}

static int import_text(struct sr_importer *imp, struct lines *L, struct sr_error *err)
{
	struct row *r = &imp->row;
	char *line;
	size_t len;
	int rc;

	while ((rc = lines_next(L, &line, &len, err)) > 0) {
		len = chomp(line, len);
		if (only_space(line, len)) {
			imp->blank_lines++;
			continue;
		}
		r->n = 0;
		r->file = imp->file;
		r->line = L->lineno;
		r->raw = line;
		r->rawlen = len;
		if (bad_utf8(imp, line, len, L->lineno, err)) {
			if (skip_row(imp) < 0)
				return sr_fail(err, SR_ENOMEM, "out of memory");
			if ((rc = imp->sink->bad(imp->sink->ctx, line, len, err)) < 0)
				return rc;
			continue;
		}
		if (row_add(r, "query", line, len, 0) < 0)
			return sr_fail(err, SR_ENOMEM, "out of memory");
		if ((rc = build_record(imp, r, err)) < 0)
			return rc;
	}
	return rc;
}

/* Fill the row from a parsed JSON object's members. Member keys are not
 * NUL-terminated in the record, so they are copied into imp->keys. */
static int object_row(struct sr_importer *imp, struct row *r)
{
	size_t i, k;
	sr_buf_reset(&imp->keys);
	r->n = 0;
	for (i = 0; i < imp->rec.n; i++) {
		const struct sr_member *m = &imp->rec.m[i];
		if (m->deleted > 0)
			continue;
		if (row_add(r, (const char *)(uintptr_t)imp->keys.len, m->raw, m->rawlen, 1) < 0 ||
		    sr_buf_append(&imp->keys, m->key, m->keylen) < 0 ||
		    sr_buf_append(&imp->keys, "", 1) < 0)
			return SR_ENOMEM;
	}
	for (k = 0; k < r->n; k++)
		r->c[k].key = imp->keys.data + (uintptr_t)r->c[k].key;
	return 0;
}

static int import_jsonl(struct sr_importer *imp, struct lines *L, struct sr_error *err)
{
	struct row *r = &imp->row;
	char *line;
	size_t len;
	int rc;

	while ((rc = lines_next(L, &line, &len, err)) > 0) {
		len = chomp(line, len);
		if (only_space(line, len)) {
			imp->blank_lines++;
			continue;
		}
		r->file = imp->file;
		r->line = L->lineno;
		r->raw = line;
		r->rawlen = len;
		sr_error_clear(err);
		if (sr_record_parse(&imp->rec, line, len, err) < 0) {
			if (skip_row(imp) < 0)
				return sr_fail(err, SR_ENOMEM, "out of memory");
			if (err) {
				snprintf(err->file, sizeof err->file, "%s", imp->file);
				err->line = L->lineno;
				if (err->code == 0)
					err->code = SR_EDATA;
			}
			if (err && err->code == SR_ENOMEM)
				return SR_ENOMEM;
			if ((rc = imp->sink->bad(imp->sink->ctx, line, len, err)) < 0)
				return rc;
			continue;
		}
		if (object_row(imp, r) < 0)
			return sr_fail(err, SR_ENOMEM, "out of memory");
		if ((rc = build_record(imp, r, err)) < 0)
			return rc;
	}
	return rc;
}

/* ---- a JSON document holding an array of objects ---- */

/* End of the JSON value starting at p (already validated as a document). */
static const char *value_end(const char *p, const char *end)
{
	int depth = 0;
	if (*p != '{' && *p != '[' && *p != '"') {
		while (p < end && *p != ',' && *p != ']' && *p != '}' && !is_ws(*p))
			p++;
		return p;
	}
	for (; p < end; p++) {
		switch (*p) {
		case '"':
			for (p++; p < end && *p != '"'; p++)
				if (*p == '\\')
					p++;
			if (depth == 0)
				return p + 1;
			break;
		case '{':
		case '[':
			depth++;
			break;
		case '}':
		case ']':
			if (--depth == 0)
				return p + 1;
			break;
		}
	}
	return end;
}

static long count_lines(const char *from, const char *to)
{
	long n = 0;
	for (; from < to; from++)
		n += *from == '\n';
	return n;
}

/* Follow records_pointer (object members only) from the document root. */
static int follow_pointer(struct sr_importer *imp, const char **p, size_t *len, struct sr_error *err)
{
	const char *ptr = imp->opt.records_pointer;
	char token[512];
	while (ptr && *ptr == '/') {
		size_t k = 0;
		for (ptr++; *ptr && *ptr != '/' && k + 1 < sizeof token; ptr++) {
			if (*ptr == '~' && (ptr[1] == '0' || ptr[1] == '1')) {
				token[k++] = ptr[1] == '0' ? '~' : '/';
				ptr++;
			} else {
				token[k++] = *ptr;
			}
		}
		token[k] = '\0';
		if (sr_record_parse(&imp->rec, *p, *len, NULL) < 0)
			return fail_at(err, SR_EDATA, imp->file, 0, 0, "JSON pointer '%s': the value "
			               "holding '%s' is not an object", imp->opt.records_pointer, token);
		const char *v = sr_record_raw(&imp->rec, token, len);
		if (!v)
			return fail_at(err, SR_ENOTFOUND, imp->file, 0, 0, "JSON pointer '%s': no member "
			               "'%s'", imp->opt.records_pointer, token);
		*p = v;
	}
	return 0;
}

/* Names of the array members of a top-level object, for the error message. */
static void array_members(struct sr_importer *imp, const char *p, size_t len, char *out, size_t cap)
{
	size_t i, used = 0;
	out[0] = '\0';
	if (sr_record_parse(&imp->rec, p, len, NULL) < 0)
		return;
	for (i = 0; i < imp->rec.n && used + 1 < cap; i++) {
		if (imp->rec.m[i].raw && imp->rec.m[i].raw[0] == '[') {
			int k = snprintf(out + used, cap - used, "%s/%.*s", used ? ", " : "",
			                 (int)imp->rec.m[i].keylen, imp->rec.m[i].key);
			used += k > 0 ? (size_t)k : 0;
		}
	}
}

/* Read the whole input, within the size cap, and check it is one JSON
 * value. A syntax error is reported with its line and column. */
static int read_document(struct sr_importer *imp, struct lines *L, const char **doc, size_t *len,
                         struct sr_error *err)
{
	int rc;

	for (;;) {
		if (L->end - L->start > imp->opt.max_bytes)
			return fail_at(err, SR_ETOOBIG, imp->file, 0, 0, "JSON document larger than the "
			               "limit of %zu bytes (see --max-line)", imp->opt.max_bytes);
		if (L->eof)
			break;
		if ((rc = lines_fill(L, err)) < 0)
			return rc;
	}
	*doc = L->buf + L->start;
	*len = L->end - L->start;
	sr_error_clear(err);
	if (sr_json_validate(*doc, *len, err) == 0)
		return 0;

	/* The validator gives the byte offset in the document as the column. */
	long off = err && err->column > 0 ? err->column - 1 : 0;
	const char *bol = *doc + off;
	while (bol > *doc && bol[-1] != '\n')
		bol--;
	if (err) {
		snprintf(err->file, sizeof err->file, "%s", imp->file);
		err->line = 1 + count_lines(*doc, *doc + off);
		err->column = (long)(*doc + off - bol) + 1;
		err->code = SR_EDATA;
	}
	return SR_EDATA;
}

/* Find the array of records: the document itself or the value that
 * --records points to. Sets [*start, *end) to the array's bytes. */
static int locate_array(struct sr_importer *imp, const char *doc, size_t len, const char **start,
                        const char **end, struct sr_error *err)
{
	const char *p = doc;
	size_t vlen = len;
	char members[512];
	int rc;

	while (vlen && is_ws(*p)) {
		p++;
		vlen--;
	}
	if ((rc = follow_pointer(imp, &p, &vlen, err)) < 0)
		return rc;
	if (*p == '{' && !imp->opt.records_pointer) {
		array_members(imp, p, vlen, members, sizeof members);
		return fail_at(err, SR_EDATA, imp->file, 1 + count_lines(doc, p), 0,
		               "the document is an object, not an array of records; name the "
		               "array with --records POINTER%s%s%s", members[0] ? " (arrays here: " : "",
		               members[0] ? members : "", members[0] ? ")" : "");
	}
	if (*p != '[')
		return fail_at(err, SR_EDATA, imp->file, 1 + count_lines(doc, p), 0,
		               "expected an array of records");
	*start = p;
	*end = value_end(p, doc + len);
	return 0;
}

/* Import one array element, [p, e), which starts on the given line. */
static int import_element(struct sr_importer *imp, const char *p, const char *e, long line,
                          size_t index, struct sr_error *err)
{
	struct row *r = &imp->row;

	r->file = imp->file;
	r->line = line;
	r->raw = p;
	r->rawlen = (size_t)(e - p);
	if (*p == '{' && sr_record_parse(&imp->rec, p, (size_t)(e - p), err) == 0) {
		if (object_row(imp, r) < 0)
			return sr_fail(err, SR_ENOMEM, "out of memory");
		return build_record(imp, r, err);
	}
	if (skip_row(imp) < 0)
		return sr_fail(err, SR_ENOMEM, "out of memory");
	if (*p != '{')
		return row_error(imp, r, err, NULL, "array element %zu is not an object", index);
	/* The whole document is valid JSON, so this is a repeated key. */
	if (err) {
		snprintf(err->file, sizeof err->file, "%s", imp->file);
		err->line = line;
		err->column = 0;
		err->code = err->code ? err->code : SR_EDATA;
	}
	return imp->sink->bad(imp->sink->ctx, r->raw, r->rawlen, err);
}

static int import_json(struct sr_importer *imp, struct lines *L, struct sr_error *err)
{
	const char *doc = NULL, *p, *end, *counted;
	size_t len = 0, index = 0;
	long line;
	int rc;

	if ((rc = read_document(imp, L, &doc, &len, err)) < 0 ||
	    (rc = locate_array(imp, doc, len, &p, &end, err)) < 0)
		return rc;
	line = 1 + count_lines(doc, p);
	counted = p;
	for (p++; p < end; index++) {
		while (p < end && (is_ws(*p) || *p == ','))
			p++;
		if (p >= end || *p == ']')
			break;
		const char *e = value_end(p, end);
		line += count_lines(counted, p);
		counted = p;
		if ((rc = import_element(imp, p, e, line, index, err)) < 0)
			return rc;
		p = e;
	}
	return 0;
}

/* ---- one input ---- */

static char *source_from_path(const char *path)
{
	const char *base, *dot;
	size_t n;
	if (!path || strcmp(path, "-") == 0)
		return strdup("stdin");
	base = strrchr(path, '/');
	base = base ? base + 1 : path;
	n = strlen(base);
	if (ends_with(base, n, ".zst"))
		n -= 4;
	else if (ends_with(base, n, ".zstd"))
		n -= 5;
	for (dot = base + n; dot > base && dot[-1] != '.'; dot--)
		;
	if (dot > base + 1)
		n = (size_t)(dot - 1 - base);
	return strndup(base, n);
}

int sr_importer_run(struct sr_importer *imp, const char *path, const struct sr_import_sink *sink,
                    struct sr_error *err)
{
	struct lines L;
	enum sr_import_format fmt;
	char **nf;
	int rc;

	if (!path)
		path = "-";
	nf = realloc(imp->files, (size_t)(imp->nfiles + 1) * sizeof *nf);
	if (!nf)
		return sr_fail(err, SR_ENOMEM, "out of memory");
	imp->files = nf;
	if (!(imp->files[imp->nfiles] = strdup(path)))
		return sr_fail(err, SR_ENOMEM, "out of memory");
	imp->nfiles++;
	imp->file = imp->files[imp->nfiles - 1];
	free(imp->file_source);
	if (!(imp->file_source = source_from_path(path)))
		return sr_fail(err, SR_ENOMEM, "out of memory");
	imp->source = imp->opt.source ? imp->opt.source : imp->file_source;
	if (!*imp->source)
		return sr_fail(err, SR_EUSAGE, "cannot derive a source name from '%s'; give --source NAME", path);
	imp->sink = sink;
	free_header(imp);

	if ((rc = lines_open(&L, path, imp->opt.max_bytes, err)) < 0) {
		lines_close(&L);
		return rc;
	}
	fmt = imp->opt.format;
	if (fmt == SR_IMPORT_AUTO)
		fmt = sr_import_format_from_name(path);
	if (fmt == SR_IMPORT_AUTO)
		fmt = sr_import_format_sniff(L.buf + L.start, L.end - L.start);
	imp->last_format = fmt;
	imp->compact = fmt == SR_IMPORT_JSON;
	switch (fmt) {
	case SR_IMPORT_CSV:
		rc = import_csv(imp, &L, err);
		break;
	case SR_IMPORT_TSV:
		rc = import_tsv(imp, &L, err);
		break;
	case SR_IMPORT_JSON:
		rc = import_json(imp, &L, err);
		break;
	case SR_IMPORT_JSONL:
		rc = import_jsonl(imp, &L, err);
		break;
	default:
		rc = import_text(imp, &L, err);
		break;
	}
	lines_close(&L);
	return rc;
}
