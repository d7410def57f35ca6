/*
 * test-safetensors.c - safetensors round trips, dtype conversions and
 * rejection of malformed files.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "safetensors.h"
#include "t.h"

static char tmpdir[] = "/tmp/test-st.XXXXXX";

static const char *tmppath(const char *name)
{
	static char buf[256];
	snprintf(buf, sizeof buf, "%s/%s", tmpdir, name);
	return buf;
}

/* Write a file made of an 8-byte length, the header text and n data bytes. */
static void write_raw(const char *path, const char *header, size_t data_len)
{
	FILE *fp = fopen(path, "wb");
	uint64_t n = strlen(header);
	unsigned char len[8];
	for (int i = 0; i < 8; i++)
		len[i] = (unsigned char)(n >> (8 * i));
	fwrite(len, 1, 8, fp);
	fwrite(header, 1, n, fp);
	for (size_t i = 0; i < data_len; i++)
		fputc(0, fp);
	fclose(fp);
}

static void test_conversions(void)
{
	CHECK(sr_f16_to_f32(0x3c00) == 1.0f);
	CHECK(sr_f16_to_f32(0xc000) == -2.0f);
	CHECK(sr_f16_to_f32(0x7bff) == 65504.0f);
	CHECK(sr_f16_to_f32(0x0001) == 0x1p-24f);
	CHECK(sr_f16_to_f32(0x03ff) == 1023 * 0x1p-24f);
	CHECK(isinf(sr_f16_to_f32(0x7c00)));
	CHECK(isnan(sr_f16_to_f32(0x7e00)));
	CHECK(sr_f16_to_f32(0x8000) == 0.0f);
	CHECK(signbit(sr_f16_to_f32(0x8000)));

	CHECK(sr_bf16_to_f32(0x3f80) == 1.0f);
	CHECK_INT(sr_f32_to_bf16(1.0f), 0x3f80);
	/* halfway cases round to even */
	CHECK_INT(sr_f32_to_bf16(1.0f + 0x1p-8f), 0x3f80);
	CHECK_INT(sr_f32_to_bf16(1.0f + 3 * 0x1p-8f), 0x3f82);
	CHECK_INT(sr_f32_to_bf16(1.0f + 0x1p-8f + 0x1p-20f), 0x3f81);
	CHECK(isnan(sr_bf16_to_f32(sr_f32_to_bf16(NAN))));
	CHECK(isinf(sr_bf16_to_f32(sr_f32_to_bf16(INFINITY))));
}

static void test_round_trip(void)
{
	float a[6] = {1.5f, -2.25f, 3.0e-8f, 65536.0f, -0.0f, 1.0f + 0x1p-20f};
	float b[3] = {7, 8, 9}, out[6];
	struct sr_st_entry e[2] = {
		{"weights.a", 2, {2, 3}, a},
		{"b", 1, {3}, b},
	};
	struct sr_st_reader *r = NULL;
	struct sr_error err;
	json_t *meta = json_pack("{s:s, s:s}", "format", "pt", "step", "12");

	CHECK_INT(sr_st_write(tmppath("f32.safetensors"), e, 2, SR_ST_F32, meta, &err), 0);
	CHECK_INT(sr_st_open(tmppath("f32.safetensors"), &r, &err), 0);
	if (r) {
		CHECK_INT(sr_st_count(r), 2);
		const struct sr_st_tensor *t = sr_st_find(r, "weights.a");
		CHECK(t != NULL);
		if (t) {
			CHECK_INT(t->ndim, 2);
			CHECK_INT(t->shape[0], 2);
			CHECK_INT(t->shape[1], 3);
			CHECK_STR(t->dtype_name, "F32");
		}
		CHECK_STR(sr_st_metadata(r, "step"), "12");
		CHECK(sr_st_metadata(r, "missing") == NULL);
		CHECK_INT(sr_st_read_f32(r, "weights.a", out, 6, &err), 0);
		CHECK_MEM(out, sizeof a, a, sizeof a);
		CHECK_INT(sr_st_read_f32(r, "b", out, 3, &err), 0);
		CHECK_MEM(out, sizeof b, b, sizeof b);
		CHECK_INT(sr_st_read_f32(r, "b", out, 4, &err), SR_EDATA);
		CHECK_INT(sr_st_read_f32(r, "nope", out, 3, &err), SR_ENOTFOUND);
		sr_st_close(r);
	}

	/* The header is padded to a multiple of 8 bytes. */
	FILE *fp = fopen(tmppath("f32.safetensors"), "rb");
	unsigned char len[8];
	CHECK_INT(fread(len, 1, 8, fp), 8);
	CHECK_INT(len[0] % 8, 0);
	fclose(fp);

	CHECK_INT(sr_st_write(tmppath("bf16.safetensors"), e, 2, SR_ST_BF16, NULL, &err), 0);
	CHECK_INT(sr_st_open(tmppath("bf16.safetensors"), &r, &err), 0);
	if (r) {
		CHECK_STR(sr_st_find(r, "b")->dtype_name, "BF16");
		CHECK_INT(sr_st_read_f32(r, "weights.a", out, 6, &err), 0);
		for (int i = 0; i < 6; i++)
			CHECK(out[i] == sr_bf16_to_f32(sr_f32_to_bf16(a[i])));
		CHECK(out[0] == 1.5f);
		CHECK(out[5] == 1.0f);
		sr_st_close(r);
	}

	struct sr_st_entry dup[2] = {{"x", 1, {3}, b}, {"x", 1, {3}, b}};
	CHECK_INT(sr_st_write(tmppath("dup.safetensors"), dup, 2, SR_ST_F32, NULL, &err), SR_EUSAGE);
	CHECK(access(tmppath("dup.safetensors"), F_OK) != 0);
	json_decref(meta);
}

static void test_f16_file(void)
{
	/* Two F16 values 1.0 and -2.0 written by hand. */
	const char *h = "{\"h\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}";
	FILE *fp = fopen(tmppath("f16.safetensors"), "wb");
	uint64_t n = strlen(h);
	unsigned char data[4] = {0x00, 0x3c, 0x00, 0xc0};
	float out[2];
	struct sr_st_reader *r = NULL;
	struct sr_error err;

	for (int i = 0; i < 8; i++)
		fputc((int)(n >> (8 * i)) & 0xff, fp);
	fwrite(h, 1, n, fp);
	fwrite(data, 1, 4, fp);
	fclose(fp);
	CHECK_INT(sr_st_open(tmppath("f16.safetensors"), &r, &err), 0);
	if (r) {
		CHECK_INT(sr_st_read_f32(r, "h", out, 2, &err), 0);
		CHECK(out[0] == 1.0f);
		CHECK(out[1] == -2.0f);
		sr_st_close(r);
	}
}

static void test_malformed(void)
{
	struct sr_st_reader *r = NULL;
	struct sr_error err;
	static const struct { const char *header; size_t data; int code; } cases[] = {
		/* byte count does not match dtype and shape */
		{"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, SR_EDATA},
		/* range beyond the end of the file */
		{"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, SR_EDATA},
		/* overlapping tensors */
		{"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
		 "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, SR_EDATA},
		/* unknown dtype */
		{"{\"a\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2, SR_EDATA},
		/* not JSON */
		{"{\"a\":", 0, SR_EDATA},
		/* fine */
		{"{\"a\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		write_raw(tmppath("bad.safetensors"), cases[i].header, cases[i].data);
		int rc = sr_st_open(tmppath("bad.safetensors"), &r, &err);
		if (rc != cases[i].code)
			fprintf(stderr, "case %zu: got %d\n", i, rc);
		CHECK_INT(rc, cases[i].code);
		if (!rc) {
			float out[2];
			/* an integer tensor cannot be read as float */
			CHECK_INT(sr_st_read_f32(r, "a", out, 2, &err), SR_EDATA);
		}
		sr_st_close(r);
		r = NULL;
	}

	/* a header length larger than the file */
	FILE *fp = fopen(tmppath("bad.safetensors"), "wb");
	fwrite("\xff\xff\x00\x00\x00\x00\x00\x00{}", 1, 10, fp);
	fclose(fp);
	CHECK_INT(sr_st_open(tmppath("bad.safetensors"), &r, &err), SR_EDATA);
	CHECK_INT(sr_st_open(tmppath("missing.safetensors"), &r, &err), SR_ENOTFOUND);
}

/* A file written by PyTorch's side (tests/ref/make_ref.py). */
static void test_python_file(void)
{
	struct sr_st_reader *r = NULL;
	struct sr_error err;
	CHECK_INT(sr_st_open(t_srcpath("tests/ref/llama/model.safetensors"), &r, &err), 0);
	if (r) {
		const struct sr_st_tensor *t = sr_st_find(r, "model.embed_tokens.weight");
		CHECK(t != NULL);
		if (t) {
			CHECK_INT(t->shape[0], 53);
			CHECK_INT(t->shape[1], 24);
		}
		CHECK(sr_st_find(r, "lm_head.weight") == NULL);
		sr_st_close(r);
	}
}

int main(void)
{
	const char *names[] = {"f32", "bf16", "f16", "bad", "dup"};
	char path[300];

	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	test_conversions();
	test_round_trip();
	test_f16_file();
	test_malformed();
	test_python_file();
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		snprintf(path, sizeof path, "%s/%s.safetensors", tmpdir, names[i]);
		unlink(path);
	}
	rmdir(tmpdir);
	return t_result();
}
