/* test-import.c - the importer on small inputs with every awkward case. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>
#include "t.h"
#include "import.h"
#include "util.h"

/* What a run produced: the records and the bad rows, each as text. */
struct result {
	struct sr_buf out;     /* the records, one per line */
	struct sr_buf bad;     /* "LINE|FIELD|MESSAGE|RAW\n" per bad row */
	int nout, nbad;
	int stop_on_bad;       /* make bad() return the error code */
};

static int emit(void *ctx, const char *line, size_t len, struct sr_error *err)
{
	struct result *r = ctx;
	r->nout++;
	return sr_buf_append(&r->out, line, len);
}

static int bad(void *ctx, const char *raw, size_t len, struct sr_error *err)
{
	struct result *r = ctx;
	r->nbad++;
	sr_buf_printf(&r->bad, "%ld|%s|%s|%.*s\n", err->line, err->field, err->message, (int)len, raw);
	return r->stop_on_bad ? err->code : 0;
}

static char tmpdir[] = "/tmp/test-import-XXXXXX";

static const char *write_file(const char *name, const char *data, size_t len)
{
	static char path[4][512];
	static int k;
	char *p = path[k++ % 4];
	FILE *f;
	snprintf(p, 512, "%s/%s", tmpdir, name);
	f = fopen(p, "wb");
	if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
		perror(p);
		exit(99);
	}
	return p;
}

/* Import data (written to a file called name) with opt; returns the code. */
static int run_import(const struct sr_import_options *opt, const char *name, const char *data,
                      size_t len, struct result *res, struct sr_error *err)
{
	struct sr_importer *imp;
	struct sr_import_sink sink = {res, emit, bad};
	const char *path = write_file(name, data, len);
	int rc;

	memset(res, 0, sizeof *res);
	sr_error_clear(err);
	if ((rc = sr_importer_new(opt, &imp, err)) < 0)
		return rc;
	rc = sr_importer_run(imp, path, &sink, err);
	sr_importer_free(imp);
	return rc;
}

static void result_release(struct result *r)
{
	sr_buf_release(&r->out);
	sr_buf_release(&r->bad);
}

#define S(lit) lit, sizeof(lit) - 1

static const struct sr_import_options harmful = {.label = "harmful", .source = "t"};

static void test_csv_quoting(void)
{
	struct result r;
	struct sr_error err;
	const char csv[] =
		"id,prompt,note\n"
		"a,\"one, two\",plain\n"
		"b,\"say \"\"hi\"\"\",x\n"
		"c,\"line one\nline two\",\"crlf\r\ninside\"\n"
		"d, padded ,\n";
	CHECK_INT(run_import(&harmful, "q.csv", S(csv), &r, &err), 0);
	CHECK_INT(r.nout, 4);
	CHECK_STR(r.out.data,
		"{\"id\":\"a\",\"source\":\"t\",\"label\":\"harmful\",\"query\":\"one, two\",\"meta\":{\"note\":\"plain\"}}\n"
		"{\"id\":\"b\",\"source\":\"t\",\"label\":\"harmful\",\"query\":\"say \\\"hi\\\"\",\"meta\":{\"note\":\"x\"}}\n"
		"{\"id\":\"c\",\"source\":\"t\",\"label\":\"harmful\",\"query\":\"line one\\nline two\",\"meta\":{\"note\":\"crlf\\r\\ninside\"}}\n"
		"{\"id\":\"d\",\"source\":\"t\",\"label\":\"harmful\",\"query\":\" padded \",\"meta\":{\"note\":\"\"}}\n");
	result_release(&r);
}

static void test_csv_crlf_bom(void)
{
	struct result r;
	struct sr_error err;
	const char csv[] = "\xEF\xBB\xBFgoal,target\r\nfirst,\"x\r\ny\"\r\nsecond,z\r\n";
	CHECK_INT(run_import(&harmful, "c.csv", S(csv), &r, &err), 0);
	CHECK_INT(r.nout, 2);
	CHECK_STR(r.out.data,
		"{\"id\":\"t-1\",\"source\":\"t\",\"label\":\"harmful\",\"query\":\"first\",\"meta\":{\"target\":\"x\\r\\ny\"}}\n"
		"{\"id\":\"t-2\",\"source\":\"t\",\"label\":\"harmful\",\"query\":\"second\",\"meta\":{\"target\":\"z\"}}\n");
	result_release(&r);

	/* No newline after the last row, and blank lines between rows. */
	const char csv2[] = "prompt\n\none\n\n\ntwo";
	CHECK_INT(run_import(&harmful, "c2.csv", S(csv2), &r, &err), 0);
	CHECK_INT(r.nout, 2);
	CHECK(strstr(r.out.data, "\"id\":\"t-2\",\"source\":\"t\",\"label\":\"harmful\",\"query\":\"two\"") != NULL);
	result_release(&r);
}

static void test_csv_empty(void)
{
	struct result r;
	struct sr_error err;
	CHECK_INT(run_import(&harmful, "empty.csv", "", 0, &r, &err), 0);
	CHECK_INT(r.nout, 0);
	CHECK_INT(r.nbad, 0);
	result_release(&r);
	CHECK_INT(run_import(&harmful, "header.csv", S("prompt,x\r\n"), &r, &err), 0);
	CHECK_INT(r.nout, 0);
	result_release(&r);
}

static void test_csv_ragged(void)
{
	struct result r;
	struct sr_error err;
	const char csv[] = "prompt,a,b\nok,1,2\nshort,1\n\"multi\nline\",1,2,3\nok2,1,2\n";
	CHECK_INT(run_import(&harmful, "r.csv", S(csv), &r, &err), 0);
	CHECK_INT(r.nout, 2);
	CHECK_INT(r.nbad, 2);
	CHECK_STR(r.bad.data,
		"3||row has 2 fields, but the header has 3|short,1\n"
		"4||row has 4 fields, but the header has 3|\"multi\nline\",1,2,3\n");
	/* Ids count every data row, skipped ones too, so they stay stable. */
	CHECK(strstr(r.out.data, "\"id\":\"t-4\"") != NULL);
	result_release(&r);

	/* When bad() returns an error code, the import stops with that code. */
	struct sr_importer *imp;
	struct sr_import_sink sink = {&r, emit, bad};
	memset(&r, 0, sizeof r);
	r.stop_on_bad = 1;
	CHECK_INT(sr_importer_new(&harmful, &imp, &err), 0);
	CHECK_INT(sr_importer_run(imp, write_file("r2.csv", S(csv)), &sink, &err), SR_EDATA);
	CHECK_INT(err.line, 3);
	CHECK_INT(r.nout, 1);
	sr_importer_free(imp);
	result_release(&r);
}

static void test_csv_malformed(void)
{
	struct result r;
	struct sr_error err;
	const char csv[] = "prompt,b\nfine,1\n\"bad\"x,2\n";
	CHECK_INT(run_import(&harmful, "m.csv", S(csv), &r, &err), SR_EDATA);
	CHECK_INT(err.line, 3);
	CHECK_INT(err.column, 6);
	CHECK(strstr(err.message, "malformed CSV") != NULL);
	result_release(&r);

	const char open[] = "prompt,b\nfine,1\n\"never closed,2\nmore\n";
	CHECK_INT(run_import(&harmful, "o.csv", S(open), &r, &err), SR_EDATA);
	CHECK_INT(err.line, 3);
	CHECK(strstr(err.message, "not closed") != NULL);
	CHECK_INT(r.nout, 1);
	result_release(&r);

	const char dup[] = "prompt,x,x\na,b,c\n";
	CHECK_INT(run_import(&harmful, "d.csv", S(dup), &r, &err), SR_EDATA);
	CHECK(strstr(err.message, "duplicate column name 'x'") != NULL);
	result_release(&r);
}

static void test_csv_utf8(void)
{
	struct result r;
	struct sr_error err;
	const char csv[] = "prompt\ngood \xC3\xA9\nbad \xFF here\n";
	CHECK_INT(run_import(&harmful, "u.csv", S(csv), &r, &err), 0);
	CHECK_INT(r.nout, 1);
	CHECK_INT(r.nbad, 1);
	CHECK_STR(r.bad.data, "3||invalid UTF-8|bad \xFF here\n");
	CHECK(strstr(r.out.data, "\"query\":\"good \xC3\xA9\"") != NULL);
	result_release(&r);
}

static void test_missing_columns(void)
{
	struct result r;
	struct sr_error err;
	struct sr_import_map m[] = {{"query", "nope"}};
	struct sr_import_options o = harmful;
	o.maps = m;
	o.nmaps = 1;
	CHECK_INT(run_import(&o, "n.csv", S("prompt,a\nx,y\n"), &r, &err), SR_ENOTFOUND);
	CHECK(strstr(err.message, "column 'nope' (for query) not found; the columns are 'prompt', 'a'") != NULL);
	result_release(&r);

	CHECK_INT(run_import(&harmful, "n2.csv", S("target,a\nx,y\n"), &r, &err), SR_EUSAGE);
	CHECK(strstr(err.message, "--map query=COLUMN") != NULL);
	result_release(&r);

	struct sr_import_options nolabel = {.source = "t"};
	CHECK_INT(run_import(&nolabel, "n3.csv", S("prompt\nx\n"), &r, &err), SR_EUSAGE);
	CHECK(strstr(err.message, "--label") != NULL);
	result_release(&r);
}

static void test_labels(void)
{
	struct result r;
	struct sr_error err;
	struct sr_import_label_map lm[] = {{"contrast_*", "harmful"}, {"safe", "benign"}, {"*", "benign"}};
	struct sr_import_options o = {.source = "x", .label_field = "type", .label_map = lm, .nlabel_map = 3};
	const char csv[] = "prompt,type\na,contrast_homonyms\nb,homonyms\nc,safe\n";
	CHECK_INT(run_import(&o, "l.csv", S(csv), &r, &err), 0);
	CHECK_INT(r.nout, 3);
	CHECK(strstr(r.out.data, "\"id\":\"x-1\",\"source\":\"x\",\"label\":\"harmful\"") != NULL);
	CHECK(strstr(r.out.data, "\"id\":\"x-2\",\"source\":\"x\",\"label\":\"benign\"") != NULL);
	result_release(&r);

	/* A label column without a map must hold the words themselves. */
	struct sr_import_options o2 = {.source = "x"};
	const char csv2[] = "prompt,label\na,harmful\nb,unsafe\n";
	CHECK_INT(run_import(&o2, "l2.csv", S(csv2), &r, &err), 0);
	CHECK_INT(r.nout, 1);
	CHECK(strstr(r.bad.data, "3|label|label value 'unsafe' is not harmful or benign") != NULL);
	result_release(&r);

	/* Bad option combinations are usage errors. */
	struct sr_importer *imp;
	struct sr_import_options o3 = {.label = "evil"};
	CHECK_INT(sr_importer_new(&o3, &imp, &err), SR_EUSAGE);
	struct sr_import_label_map bad_map[] = {{"safe", "fine"}};
	struct sr_import_options o4 = {.label_field = "x", .label_map = bad_map, .nlabel_map = 1};
	CHECK_INT(sr_importer_new(&o4, &imp, &err), SR_EUSAGE);
	struct sr_import_map meta[] = {{"meta", "x"}};
	struct sr_import_options o5 = {.label = "benign", .maps = meta, .nmaps = 1};
	CHECK_INT(sr_importer_new(&o5, &imp, &err), SR_EUSAGE);
}

static void test_ids(void)
{
	struct result r;
	struct sr_error err;
	const char csv[] = "id,prompt\nk1,a\nk2,b\nk1,c\n";
	CHECK_INT(run_import(&harmful, "i.csv", S(csv), &r, &err), 0);
	CHECK_INT(r.nout, 2);
	CHECK_INT(r.nbad, 1);
	CHECK(strstr(r.bad.data, "duplicate id 'k1' (first at ") != NULL);
	CHECK(strstr(r.bad.data, "i.csv:2)") != NULL);
	result_release(&r);

	/* --map id=COL takes precedence over a column named id. */
	struct sr_import_map m[] = {{"id", "key"}};
	struct sr_import_options o = harmful;
	o.maps = m;
	o.nmaps = 1;
	const char csv2[] = "ID,prompt,key\n1,a,x\n1,b,y\n";
	CHECK_INT(run_import(&o, "i2.csv", S(csv2), &r, &err), 0);
	CHECK_INT(r.nout, 2);
	CHECK(strstr(r.out.data, "{\"id\":\"x\",") != NULL);
	CHECK(strstr(r.out.data, "\"meta\":{\"ID\":\"1\"}") != NULL);
	result_release(&r);

	/* Generated ids keep counting across inputs of the same source, and a
	 * clash with a given id is caught across inputs too. */
	struct sr_importer *imp;
	struct sr_import_sink sink = {&r, emit, bad};
	memset(&r, 0, sizeof r);
	CHECK_INT(sr_importer_new(&harmful, &imp, &err), 0);
	CHECK_INT(sr_importer_run(imp, write_file("a.csv", S("prompt\np\nq\n")), &sink, &err), 0);
	CHECK_INT(sr_importer_run(imp, write_file("b.txt", S("r\n")), &sink, &err), 0);
	CHECK_INT(sr_importer_run(imp, write_file("c.jsonl", S("{\"id\":\"t-2\",\"query\":\"s\"}\n")), &sink, &err), 0);
	CHECK_INT(r.nout, 3);
	CHECK(strstr(r.out.data, "\"id\":\"t-3\",\"source\":\"t\",\"label\":\"harmful\",\"query\":\"r\"") != NULL);
	CHECK(strstr(r.bad.data, "duplicate id 't-2'") != NULL);
	CHECK_INT(sr_importer_rows(imp), 4);
	sr_importer_free(imp);
	result_release(&r);
}

static void test_jsonl_exact(void)
{
	struct result r;
	struct sr_error err;
	const char jl[] =
		"{\"instruction\": \"caf\\u00e9 \\/ x\", \"n\": 12345678901234567890, \"f\": 1.0000000000000001, \"o\": {\"a\": [1, 2]}, \"id\": 7}\n"
		"\n"
		"{\"instruction\": \"\"}\n"
		"not json\n"
		"[1]\n"
		"{\"instruction\": \"second\", \"category\": null, \"reference\": \"ref\"}\r\n";
	CHECK_INT(run_import(&harmful, "e.jsonl", S(jl), &r, &err), 0);
	CHECK_INT(r.nout, 2);
	CHECK_STR(r.out.data,
		"{\"id\":\"7\",\"source\":\"t\",\"label\":\"harmful\",\"query\":\"caf\\u00e9 \\/ x\","
		"\"meta\":{\"n\":12345678901234567890,\"f\":1.0000000000000001,\"o\":{\"a\": [1, 2]}}}\n"
		"{\"id\":\"t-5\",\"source\":\"t\",\"label\":\"harmful\",\"query\":\"second\",\"reference\":\"ref\",\"meta\":{}}\n");
	CHECK_INT(r.nbad, 3);
	CHECK(strstr(r.bad.data, "3|instruction|empty query|") != NULL);
	CHECK(strstr(r.bad.data, "4|||not json") != NULL || strstr(r.bad.data, "4||") != NULL);
	result_release(&r);
}

static void test_json_array(void)
{
	struct result r;
	struct sr_error err;
	const char js[] =
		"[\n"
		"  {\n"
		"    \"prompt\": \"a b\",\n"
		"    \"extra\": { \"k\" : [ 1 , \"x y\" ] }\n"
		"  },\n"
		"  42,\n"
		"  {\"prompt\": \"c\", \"prompt\": \"d\"},\n"
		"  {\"prompt\": \"e\"}\n"
		"]\n";
	CHECK_INT(run_import(&harmful, "a.json", S(js), &r, &err), 0);
	CHECK_INT(r.nout, 2);
	CHECK_STR(r.out.data,
		"{\"id\":\"t-1\",\"source\":\"t\",\"label\":\"harmful\",\"query\":\"a b\",\"meta\":{\"extra\":{\"k\":[1,\"x y\"]}}}\n"
		"{\"id\":\"t-4\",\"source\":\"t\",\"label\":\"harmful\",\"query\":\"e\",\"meta\":{}}\n");
	CHECK_INT(r.nbad, 2);
	CHECK(strstr(r.bad.data, "6||array element 1 is not an object|42") != NULL);
	CHECK(strstr(r.bad.data, "7|") != NULL);
	result_release(&r);

	/* A syntax error anywhere is fatal and located. */
	CHECK_INT(run_import(&harmful, "b.json", S("[\n {\"prompt\": \"a\"},\n {\"prompt\" \"b\"}\n]"), &r, &err), SR_EDATA);
	CHECK_INT(err.line, 3);
	CHECK_INT(err.column, 12);
	result_release(&r);

	/* An object needs --records; the message names its arrays. */
	const char obj[] = "{\"meta\": 1, \"items\": [{\"prompt\": \"p\"}, {\"prompt\": \"q\"}]}";
	CHECK_INT(run_import(&harmful, "o.json", S(obj), &r, &err), SR_EDATA);
	CHECK(strstr(err.message, "--records POINTER (arrays here: /items)") != NULL);
	result_release(&r);
	struct sr_import_options o = harmful;
	o.records_pointer = "/items";
	CHECK_INT(run_import(&o, "o.json", S(obj), &r, &err), 0);
	CHECK_INT(r.nout, 2);
	result_release(&r);
	o.records_pointer = "/nothing";
	CHECK_INT(run_import(&o, "o.json", S(obj), &r, &err), SR_ENOTFOUND);
	result_release(&r);
}

static void test_tsv_text(void)
{
	struct result r;
	struct sr_error err;
	const char tsv[] = "prompt\tcategory\r\nhow \"so\", then\tcyber\r\n\r\nonly one\r\n";
	CHECK_INT(run_import(&harmful, "t.tsv", S(tsv), &r, &err), 0);
	CHECK_INT(r.nout, 1);
	CHECK_STR(r.out.data, "{\"id\":\"t-1\",\"source\":\"t\",\"label\":\"harmful\",\"category\":\"cyber\","
	                      "\"query\":\"how \\\"so\\\", then\",\"meta\":{}}\n");
	CHECK_STR(r.bad.data, "4||row has 1 field, but the header has 2|only one\n");
	result_release(&r);

	const char txt[] = "first query\r\n   \n\tsecond, with comma\n";
	CHECK_INT(run_import(&harmful, "q.txt", S(txt), &r, &err), 0);
	CHECK_STR(r.out.data,
		"{\"id\":\"t-1\",\"source\":\"t\",\"label\":\"harmful\",\"query\":\"first query\",\"meta\":{}}\n"
		"{\"id\":\"t-2\",\"source\":\"t\",\"label\":\"harmful\",\"query\":\"\\tsecond, with comma\",\"meta\":{}}\n");
	result_release(&r);
}

static void test_options(void)
{
	struct result r;
	struct sr_error err;
	struct sr_import_map m[] = {{"query", "Behavior"}, {"behavior_id", "BehaviorID"}, {"category", "Cat"}};
	struct sr_import_options o = {.label = "harmful", .maps = m, .nmaps = 3,
	                              .context_column = "ContextString", .no_meta = 1};
	const char csv[] = "Behavior,Cat,ContextString,BehaviorID\n"
	                   "Do it,c1,\"Some\ncontext\",b1\n"
	                   "Plain,,,b2\n";
	CHECK_INT(run_import(&o, "hb.csv", S(csv), &r, &err), 0);
	CHECK_STR(r.out.data,
		"{\"id\":\"hb-1\",\"source\":\"hb\",\"label\":\"harmful\",\"category\":\"c1\","
		"\"query\":\"Some\\ncontext\\n\\n---\\n\\nDo it\",\"behavior_id\":\"b1\"}\n"
		"{\"id\":\"hb-2\",\"source\":\"hb\",\"label\":\"harmful\",\"query\":\"Plain\",\"behavior_id\":\"b2\"}\n");
	result_release(&r);

	/* --no-header names the columns column_1, ...; source from a column. */
	struct sr_import_map m2[] = {{"query", "column_2"}, {"source", "column_1"}};
	struct sr_import_options o2 = {.label = "benign", .maps = m2, .nmaps = 2, .no_header = 1};
	CHECK_INT(run_import(&o2, "nh.csv", S("s1,hello,x\ns2,world,y\ns1,again,z\n"), &r, &err), 0);
	CHECK_STR(r.out.data,
		"{\"id\":\"s1-1\",\"source\":\"s1\",\"label\":\"benign\",\"query\":\"hello\",\"meta\":{\"column_3\":\"x\"}}\n"
		"{\"id\":\"s2-1\",\"source\":\"s2\",\"label\":\"benign\",\"query\":\"world\",\"meta\":{\"column_3\":\"y\"}}\n"
		"{\"id\":\"s1-2\",\"source\":\"s1\",\"label\":\"benign\",\"query\":\"again\",\"meta\":{\"column_3\":\"z\"}}\n");
	result_release(&r);
}

static void test_detection(void)
{
	CHECK_INT(sr_import_format_from_name("a/b.CSV"), SR_IMPORT_CSV);
	CHECK_INT(sr_import_format_from_name("x.tsv.zst"), SR_IMPORT_TSV);
	CHECK_INT(sr_import_format_from_name("x.ndjson"), SR_IMPORT_JSONL);
	CHECK_INT(sr_import_format_from_name("x.json"), SR_IMPORT_JSON);
	CHECK_INT(sr_import_format_from_name("x.txt"), SR_IMPORT_TEXT);
	CHECK_INT(sr_import_format_from_name("x.dat"), SR_IMPORT_AUTO);
	CHECK_INT(sr_import_format_from_name("-"), SR_IMPORT_AUTO);
	CHECK_INT(sr_import_format_sniff(S("\xEF\xBB\xBF  [{}]")), SR_IMPORT_JSON);
	CHECK_INT(sr_import_format_sniff(S("{\"a\":1}\n{\"a\":2}\n")), SR_IMPORT_JSONL);
	CHECK_INT(sr_import_format_sniff(S("{\n  \"a\": [1]\n}\n")), SR_IMPORT_JSON);
	CHECK_INT(sr_import_format_sniff(S("{\"a\": \"a first line cut off by the sniff win")), SR_IMPORT_JSONL);
	CHECK_INT(sr_import_format_sniff(S("a\tb\n1\t2\n")), SR_IMPORT_TSV);
	CHECK_INT(sr_import_format_sniff(S("a,b\n1,2\n")), SR_IMPORT_CSV);
	CHECK_INT(sr_import_format_sniff(S("just words\n")), SR_IMPORT_TEXT);

	enum sr_import_format f;
	CHECK_INT(sr_import_format_parse("ndjson", &f), 0);
	CHECK_INT(f, SR_IMPORT_JSONL);
	CHECK_INT(sr_import_format_parse("xml", &f), SR_EUSAGE);

	/* An unknown extension falls back to the content. */
	struct result r;
	struct sr_error err;
	CHECK_INT(run_import(&harmful, "data.dat", S("prompt,x\nhi,1\n"), &r, &err), 0);
	CHECK_INT(r.nout, 1);
	result_release(&r);
}

static void test_zstd_and_limits(void)
{
	struct result r;
	struct sr_error err;
	const char csv[] = "prompt\ncompressed row\n";
	char z[256];
	size_t zn = ZSTD_compress(z, sizeof z, csv, sizeof csv - 1, 3);
	CHECK(!ZSTD_isError(zn));
	CHECK_INT(run_import(&harmful, "z.csv.zst", z, zn, &r, &err), 0);
	CHECK_STR(r.out.data, "{\"id\":\"t-1\",\"source\":\"t\",\"label\":\"harmful\",\"query\":\"compressed row\",\"meta\":{}}\n");
	result_release(&r);

	/* A line over the cap is an error, not an allocation without end. */
	struct sr_import_options o = harmful;
	o.max_bytes = 64;
	char big[400];
	memset(big, 'x', sizeof big);
	memcpy(big, "prompt\n", 7);
	big[sizeof big - 1] = '\n';
	CHECK_INT(run_import(&o, "big.txt", big, sizeof big, &r, &err), SR_ETOOBIG);
	CHECK_INT(err.line, 2);
	result_release(&r);
	CHECK_INT(run_import(&o, "big.csv", big, sizeof big, &r, &err), SR_ETOOBIG);
	result_release(&r);
	/* A JSON document is read whole, so the cap applies to all of it. */
	char doc[200];
	memset(doc, ' ', sizeof doc);
	memcpy(doc, "[{\"prompt\": \"x\"}", 16);
	doc[sizeof doc - 1] = ']';
	CHECK_INT(run_import(&o, "big.json", doc, sizeof doc, &r, &err), SR_ETOOBIG);
	result_release(&r);
	o.max_bytes = 200;
	CHECK_INT(run_import(&o, "fits.json", doc, sizeof doc, &r, &err), 0);
	CHECK_INT(r.nout, 1);
	result_release(&r);

	/* The source name comes from the file name without its extensions. */
	struct sr_import_options nosrc = {.label = "benign"};
	CHECK_INT(run_import(&nosrc, "my-set.v2.csv.zst", z, zn, &r, &err), 0);
	CHECK(strstr(r.out.data, "{\"id\":\"my-set.v2-1\",\"source\":\"my-set.v2\",") != NULL);
	result_release(&r);
}

int main(void)
{
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 99;
	}
	test_csv_quoting();
	test_csv_crlf_bom();
	test_csv_empty();
	test_csv_ragged();
	test_csv_malformed();
	test_csv_utf8();
	test_missing_columns();
	test_labels();
	test_ids();
	test_jsonl_exact();
	test_json_array();
	test_tsv_text();
	test_options();
	test_detection();
	test_zstd_and_limits();
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
	return t_result();
}
