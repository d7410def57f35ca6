/* safetensors.c - safetensors reader and writer (see safetensors.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io.h"
#include "safetensors.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c assumes a little-endian host"
#endif

struct sr_st_reader {
	char *path;
	FILE *fp;
	uint64_t data_start;     /* file offset of the data section */
	json_t *header;          /* the parsed header (owned) */
	struct sr_st_tensor *t;
	size_t n;
};

float sr_bf16_to_f32(uint16_t h)
{
	uint32_t u = (uint32_t)h << 16;
	float f;
	memcpy(&f, &u, sizeof f);
	return f;
}

uint16_t sr_f32_to_bf16(float f)
{
	uint32_t u;
	memcpy(&u, &f, sizeof u);
	if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x007fffffu))
		return (uint16_t)((u >> 16) | 0x40); /* keep NaN a quiet NaN */
	u += 0x7fffu + ((u >> 16) & 1);          /* round to nearest even */
	return (uint16_t)(u >> 16);
}

float sr_f16_to_f32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16;
	uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff, u;
	float f;

	if (exp == 0x1f) {
		u = sign | 0x7f800000u | (man << 13);
	} else if (exp != 0) {
		u = sign | ((exp + 112) << 23) | (man << 13);
	} else if (man == 0) {
		u = sign;
	} else {
		/* subnormal half: value = man * 2^-24 */
		f = (float)man * 0x1p-24f;
		return sign ? -f : f;
	}
	memcpy(&f, &u, sizeof f);
	return f;
}

static enum sr_st_dtype dtype_from_name(const char *s)
{
	if (!strcmp(s, "F32"))
		return SR_ST_F32;
	if (!strcmp(s, "BF16"))
		return SR_ST_BF16;
	if (!strcmp(s, "F16"))
		return SR_ST_F16;
	return SR_ST_OTHER;
}

/* Element size in bytes of a header dtype name, 0 if unknown. */
static size_t dtype_size(const char *s)
{
	static const struct { const char *name; size_t size; } sizes[] = {
		{"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4},
		{"I16", 2}, {"I8", 1}, {"U64", 8}, {"U32", 4}, {"U16", 2}, {"U8", 1},
		{"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1},
	};
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
		if (!strcmp(s, sizes[i].name))
			return sizes[i].size;
	return 0;
}

static int cmp_begin(const void *a, const void *b)
{
	const struct sr_st_tensor *x = a, *y = b;
	return x->begin < y->begin ? -1 : x->begin > y->begin;
}

/* Fill t from one header entry. */
static int parse_entry(struct sr_st_reader *r, const char *name, json_t *v,
                       struct sr_st_tensor *t, uint64_t data_len, struct sr_error *err)
{
	json_t *dtype = json_object_get(v, "dtype");
	json_t *shape = json_object_get(v, "shape");
	json_t *offs = json_object_get(v, "data_offsets");
	size_t esize, i;

	if (!json_is_string(dtype) || !json_is_array(shape) || !json_is_array(offs) ||
	    json_array_size(offs) != 2)
		return sr_fail(err, SR_EDATA, "%s: tensor '%s' lacks dtype, shape or data_offsets",
		               r->path, name);
	t->name = name;
	snprintf(t->dtype_name, sizeof t->dtype_name, "%s", json_string_value(dtype));
	t->dtype = dtype_from_name(t->dtype_name);
	esize = dtype_size(t->dtype_name);
	if (!esize)
		return sr_fail(err, SR_EDATA, "%s: tensor '%s' has unknown dtype '%s'", r->path,
		               name, t->dtype_name);
	if (json_array_size(shape) > SR_ST_MAX_DIMS)
		return sr_fail(err, SR_EDATA, "%s: tensor '%s' has more than %d dimensions",
		               r->path, name, SR_ST_MAX_DIMS);
	t->ndim = (int)json_array_size(shape);
	t->numel = 1;
	for (i = 0; i < json_array_size(shape); i++) {
		json_t *d = json_array_get(shape, i);
		if (!json_is_integer(d) || json_integer_value(d) < 0)
			return sr_fail(err, SR_EDATA, "%s: tensor '%s' has an invalid shape",
			               r->path, name);
		t->shape[i] = json_integer_value(d);
		if (t->shape[i] && t->numel > SIZE_MAX / 16 / (size_t)t->shape[i])
			return sr_fail(err, SR_EDATA, "%s: tensor '%s' is too large", r->path, name);
		t->numel *= (size_t)t->shape[i];
	}
	if (!json_is_integer(json_array_get(offs, 0)) || !json_is_integer(json_array_get(offs, 1)))
		return sr_fail(err, SR_EDATA, "%s: tensor '%s' has invalid data_offsets", r->path, name);
	json_int_t b = json_integer_value(json_array_get(offs, 0));
	json_int_t e = json_integer_value(json_array_get(offs, 1));
	if (b < 0 || e < b || (uint64_t)e > data_len)
		return sr_fail(err, SR_EDATA, "%s: tensor '%s' has data_offsets outside the file",
		               r->path, name);
	if ((uint64_t)(e - b) != t->numel * esize)
		return sr_fail(err, SR_EDATA,
		               "%s: tensor '%s' has %lld bytes, but dtype and shape need %zu",
		               r->path, name, (long long)(e - b), t->numel * esize);
	t->begin = (uint64_t)b;
	t->end = (uint64_t)e;
	return 0;
}

static int read_header(struct sr_st_reader *r, struct sr_error *err)
{
	unsigned char lenbuf[8];
	uint64_t hlen = 0, file_size, data_len;
	struct stat st;
	char *text;
	json_error_t jerr;
	const char *key;
	json_t *v;
	int rc;

	if (fstat(fileno(r->fp), &st) != 0)
		return sr_fail(err, SR_EIO, "%s: %s", r->path, strerror(errno));
	file_size = (uint64_t)st.st_size;
	if (fread(lenbuf, 1, 8, r->fp) != 8)
		return sr_fail(err, SR_EDATA, "%s: not a safetensors file (shorter than 8 bytes)",
		               r->path);
	for (int i = 7; i >= 0; i--)
		hlen = hlen << 8 | lenbuf[i];
	if (hlen > SR_ST_MAX_HEADER || hlen > file_size - 8)
		return sr_fail(err, SR_EDATA, "%s: not a safetensors file (header length %llu)",
		               r->path, (unsigned long long)hlen);
	text = malloc(hlen + 1);
	if (!text)
		return sr_fail(err, SR_ENOMEM, "out of memory reading '%s'", r->path);
	if (fread(text, 1, hlen, r->fp) != hlen) {
		free(text);
		return sr_fail(err, SR_EIO, "%s: short read", r->path);
	}
	r->header = json_loadb(text, hlen, 0, &jerr);
	free(text);
	if (!json_is_object(r->header))
		return sr_fail(err, SR_EDATA, "%s: invalid safetensors header: %s", r->path,
		               r->header ? "not an object" : jerr.text);
	r->data_start = 8 + hlen;
	data_len = file_size - r->data_start;

	r->t = calloc(json_object_size(r->header) + 1, sizeof *r->t);
	if (!r->t)
		return sr_fail(err, SR_ENOMEM, "out of memory reading '%s'", r->path);
	json_object_foreach(r->header, key, v) {
		if (!strcmp(key, "__metadata__"))
			continue;
		if (!json_is_object(v))
			return sr_fail(err, SR_EDATA, "%s: header entry '%s' is not an object",
			               r->path, key);
		rc = parse_entry(r, key, v, &r->t[r->n], data_len, err);
		if (rc)
			return rc;
		r->n++;
	}

	/* Byte ranges must not overlap. */
	struct sr_st_tensor *sorted = malloc((r->n + 1) * sizeof *sorted);
	if (!sorted)
		return sr_fail(err, SR_ENOMEM, "out of memory reading '%s'", r->path);
	memcpy(sorted, r->t, r->n * sizeof *sorted);
	qsort(sorted, r->n, sizeof *sorted, cmp_begin);
	for (size_t i = 1; i < r->n; i++) {
		if (sorted[i].begin < sorted[i - 1].end) {
			rc = sr_fail(err, SR_EDATA, "%s: tensors '%s' and '%s' overlap", r->path,
			             sorted[i - 1].name, sorted[i].name);
			free(sorted);
			return rc;
		}
	}
	free(sorted);
	return 0;
}

int sr_st_open(const char *path, struct sr_st_reader **out, struct sr_error *err)
{
	struct sr_st_reader *r = calloc(1, sizeof *r);
	int rc;

	*out = NULL;
	if (!r || !(r->path = strdup(path))) {
		free(r);
		return sr_fail(err, SR_ENOMEM, "out of memory opening '%s'", path);
	}
	r->fp = fopen(path, "rb");
	if (!r->fp) {
		rc = sr_fail(err, errno == ENOENT ? SR_ENOTFOUND : SR_EIO, "cannot open '%s': %s",
		             path, strerror(errno));
		sr_st_close(r);
		return rc;
	}
	rc = read_header(r, err);
	if (rc) {
		sr_st_close(r);
		return rc;
	}
	*out = r;
	return 0;
}

size_t sr_st_count(const struct sr_st_reader *r)
{
	return r->n;
}

const struct sr_st_tensor *sr_st_at(const struct sr_st_reader *r, size_t i)
{
	return i < r->n ? &r->t[i] : NULL;
}

const struct sr_st_tensor *sr_st_find(const struct sr_st_reader *r, const char *name)
{
	for (size_t i = 0; i < r->n; i++)
		if (!strcmp(r->t[i].name, name))
			return &r->t[i];
	return NULL;
}

const char *sr_st_metadata(const struct sr_st_reader *r, const char *key)
{
	json_t *meta = json_object_get(r->header, "__metadata__");
	return json_string_value(json_object_get(meta, key));
}

int sr_st_read_f32(struct sr_st_reader *r, const char *name, float *dst, size_t numel,
                   struct sr_error *err)
{
	const struct sr_st_tensor *t = sr_st_find(r, name);
	enum { CHUNK = 1 << 16 };
	uint16_t buf[CHUNK];

	if (!t)
		return sr_fail(err, SR_ENOTFOUND, "%s: tensor '%s' not found", r->path, name);
	if (t->numel != numel)
		return sr_fail(err, SR_EDATA, "%s: tensor '%s' has %zu elements, expected %zu",
		               r->path, name, t->numel, numel);
	if (t->dtype == SR_ST_OTHER)
		return sr_fail(err, SR_EDATA, "%s: tensor '%s' has unsupported dtype '%s'",
		               r->path, name, t->dtype_name);
	if (fseeko(r->fp, (off_t)(r->data_start + t->begin), SEEK_SET) != 0)
		return sr_fail(err, SR_EIO, "%s: %s", r->path, strerror(errno));

	if (t->dtype == SR_ST_F32) {
		if (fread(dst, sizeof *dst, numel, r->fp) != numel)
			return sr_fail(err, SR_EIO, "%s: short read in tensor '%s'", r->path, name);
		return 0;
	}
	for (size_t done = 0; done < numel;) {
		size_t k = numel - done < CHUNK ? numel - done : CHUNK;
		if (fread(buf, sizeof *buf, k, r->fp) != k)
			return sr_fail(err, SR_EIO, "%s: short read in tensor '%s'", r->path, name);
		for (size_t i = 0; i < k; i++)
			dst[done + i] = t->dtype == SR_ST_BF16 ? sr_bf16_to_f32(buf[i])
			                                       : sr_f16_to_f32(buf[i]);
		done += k;
	}
	return 0;
}

void sr_st_close(struct sr_st_reader *r)
{
	if (!r)
		return;
	if (r->fp)
		fclose(r->fp);
	json_decref(r->header);
	free(r->t);
	free(r->path);
	free(r);
}

static size_t entry_numel(const struct sr_st_entry *e)
{
	size_t n = 1;
	for (int d = 0; d < e->ndim; d++)
		n *= (size_t)e->shape[d];
	return n;
}

/* Build the header text, padded with spaces to a multiple of 8 bytes. */
static char *build_header(const struct sr_st_entry *entries, size_t n, enum sr_st_dtype dtype,
                          const json_t *metadata, size_t *len, struct sr_error *err)
{
	json_t *h = json_object();
	size_t esize = dtype == SR_ST_BF16 ? 2 : 4;
	uint64_t off = 0;
	char *text, *padded;

	if (!h)
		return NULL;
	if (metadata)
		json_object_set(h, "__metadata__", (json_t *)metadata);
	for (size_t i = 0; i < n; i++) {
		const struct sr_st_entry *e = &entries[i];
		json_t *shape = json_array();
		size_t bytes = entry_numel(e) * esize;

		if (json_object_get(h, e->name)) {
			json_decref(shape);
			json_decref(h);
			sr_fail(err, SR_EUSAGE, "duplicate tensor name '%s'", e->name);
			return NULL;
		}
		for (int d = 0; d < e->ndim; d++)
			json_array_append_new(shape, json_integer(e->shape[d]));
		/* json_pack "o" steals shape. */
		json_object_set_new(h, e->name,
		                    json_pack("{s:s, s:o, s:[I, I]}", "dtype",
		                              dtype == SR_ST_BF16 ? "BF16" : "F32", "shape", shape,
		                              "data_offsets", (json_int_t)off,
		                              (json_int_t)(off + bytes)));
		off += bytes;
	}
	text = json_dumps(h, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(h);
	if (!text) {
		sr_fail(err, SR_ENOMEM, "out of memory building a safetensors header");
		return NULL;
	}
	*len = (strlen(text) + 7) / 8 * 8;
	padded = malloc(*len + 1);
	if (padded) {
		memset(padded, ' ', *len);
		memcpy(padded, text, strlen(text));
		padded[*len] = '\0';
	} else {
		sr_fail(err, SR_ENOMEM, "out of memory building a safetensors header");
	}
	free(text);
	return padded;
}

static int write_data(struct sr_output *o, const struct sr_st_entry *e, enum sr_st_dtype dtype,
                      struct sr_error *err)
{
	enum { CHUNK = 1 << 16 };
	uint16_t buf[CHUNK];
	size_t numel = entry_numel(e);
	int rc;

	if (dtype == SR_ST_F32)
		return sr_output_write(o, e->data, numel * sizeof(float), err);
	for (size_t done = 0; done < numel;) {
		size_t k = numel - done < CHUNK ? numel - done : CHUNK;
		for (size_t i = 0; i < k; i++)
			buf[i] = sr_f32_to_bf16(e->data[done + i]);
		rc = sr_output_write(o, buf, k * sizeof *buf, err);
		if (rc)
			return rc;
		done += k;
	}
	return 0;
}

int sr_st_write(const char *path, const struct sr_st_entry *entries, size_t n,
                enum sr_st_dtype dtype, const json_t *metadata, struct sr_error *err)
{
	struct sr_output *o = NULL;
	unsigned char lenbuf[8];
	size_t hlen = 0;
	char *header;
	int rc;

	if (dtype != SR_ST_F32 && dtype != SR_ST_BF16)
		return sr_fail(err, SR_EUSAGE, "safetensors output must be F32 or BF16");
	header = build_header(entries, n, dtype, metadata, &hlen, err);
	if (!header)
		return err && err->code ? err->code : SR_ENOMEM;
	for (int i = 0; i < 8; i++)
		lenbuf[i] = (unsigned char)((uint64_t)hlen >> (8 * i));

	rc = sr_output_open(path, SR_OUTPUT_ATOMIC | SR_OUTPUT_FSYNC, &o, err);
	if (!rc)
		rc = sr_output_write(o, lenbuf, sizeof lenbuf, err);
	if (!rc)
		rc = sr_output_write(o, header, hlen, err);
	for (size_t i = 0; !rc && i < n; i++)
		rc = write_data(o, &entries[i], dtype, err);
	if (!rc)
		rc = sr_output_commit(o, err);
	sr_output_free(o);
	free(header);
	return rc;
}
