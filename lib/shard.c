/*
 * shard.c - zstd shards of independent frames, their verification, and the
 * manifest file. See shard.h for the format.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pthread.h>
#include <xxhash.h>
#include <zstd.h>

#include "io.h"
#include "record.h"
#include "schema.h"
#include "shard.h"

/* Frames in flight per compression thread; the writer's memory is about
 * (2 x threads + 1) x (frame_bytes + its compressed bound). */
#define FRAMES_PER_THREAD 2
#define MAX_THREADS 64
#define MANIFEST_MAX ((size_t)256 << 20)

void sr_shard_params_init(struct sr_shard_params *p)
{
	p->level = 3;
	p->frame_bytes = SR_SHARD_FRAME_BYTES_DEFAULT;
	p->threads = 0;
}

void sr_shard_info_init(struct sr_shard_info *info)
{
	memset(info, 0, sizeof(*info));
}

void sr_shard_info_release(struct sr_shard_info *info)
{
	if (!info)
		return;
	free(info->frames);
	sr_shard_info_init(info);
}

void sr_xxh64_hex(uint64_t h, char buf[17])
{
	snprintf(buf, 17, "%016" PRIx64, h);
}

int sr_xxh64_parse(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (!s || strlen(s) != 16)
		return SR_EDATA;
	for (int i = 0; i < 16; i++) {
		char c = s[i];
		int d;
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else
			return SR_EDATA;
		v = v << 4 | (uint64_t)d;
	}
	*out = v;
	return 0;
}

int sr_xxh64_file(const char *path, uint64_t *out, struct sr_error *err)
{
	XXH64_state_t *st = XXH64_createState();
	char *buf = malloc(1 << 20);
	int fd = -1, rc = 0;

	if (!st || !buf) {
		rc = sr_fail(err, SR_ENOMEM, "out of memory");
		goto done;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = sr_fail(err, SR_EIO, "cannot open '%s': %s", path, strerror(errno));
		goto done;
	}
	XXH64_reset(st, 0);
	for (;;) {
		ssize_t n = read(fd, buf, 1 << 20);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = sr_fail(err, SR_EIO, "cannot read '%s': %s", path, strerror(errno));
			goto done;
		}
		if (n == 0)
			break;
		XXH64_update(st, buf, (size_t)n);
	}
	*out = XXH64_digest(st);
done:
	if (fd >= 0)
		close(fd);
	free(buf);
	XXH64_freeState(st);
	return rc;
}

/* ---- writer ---- */

/*
 * The writer is a pipeline: the caller's thread fills frames in a ring of
 * slots, worker threads compress filled slots in any order, and the
 * caller's thread writes compressed slots strictly in sequence. Frame k
 * lives in slot k % nslots. A slot is reused only after its frame was
 * written, so at most nslots frames are in memory.
 */
struct slot {
	char *raw;
	size_t rawlen, rawcap;
	uint64_t records;
	char *z;
	size_t zcap;
	size_t zret; /* ZSTD_compress2's result */
	int done;    /* compressed, waiting to be written (under the lock) */
};

struct sr_shard_writer {
	struct sr_output *out;
	struct sr_shard_params p;
	struct slot *slots;
	size_t nslots;
	uint64_t submitted; /* frames handed to the workers */
	uint64_t taken;     /* frames a worker has started */
	uint64_t written;   /* frames written to the file */
	pthread_t *workers;
	ZSTD_CCtx **cctx;
	int nworkers, started, stopping;
	pthread_mutex_t lock;
	pthread_cond_t work, done;
	XXH64_state_t *xs;
	uint64_t offset, records, raw_bytes;
	struct sr_shard_frame *frames;
	size_t nframes, framecap;
};

static int thread_count(int requested)
{
	long n = requested;

	if (n <= 0)
		n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		n = 1;
	if (n > MAX_THREADS)
		n = MAX_THREADS;
	return (int)n;
}

struct worker_arg {
	struct sr_shard_writer *w;
	int index;
};

static void *compress_worker(void *arg)
{
	struct worker_arg *wa = arg;
	struct sr_shard_writer *w = wa->w;
	ZSTD_CCtx *cctx = w->cctx[wa->index];

	free(wa);
	pthread_mutex_lock(&w->lock);
	for (;;) {
		struct slot *f;
		while (w->taken == w->submitted && !w->stopping)
			pthread_cond_wait(&w->work, &w->lock);
		if (w->taken == w->submitted)
			break;
		f = &w->slots[w->taken++ % w->nslots];
		pthread_mutex_unlock(&w->lock);
		f->zret = ZSTD_compress2(cctx, f->z, f->zcap, f->raw, f->rawlen);
		pthread_mutex_lock(&w->lock);
		f->done = 1;
		pthread_cond_broadcast(&w->done);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

static void stop_workers(struct sr_shard_writer *w)
{
	pthread_mutex_lock(&w->lock);
	w->stopping = 1;
	pthread_cond_broadcast(&w->work);
	pthread_mutex_unlock(&w->lock);
	for (int i = 0; i < w->started; i++)
		pthread_join(w->workers[i], NULL);
	w->started = 0;
}

int sr_shard_writer_open(const char *path, const struct sr_shard_params *p,
                         struct sr_shard_writer **out, struct sr_error *err)
{
	struct sr_shard_writer *w = calloc(1, sizeof(*w));
	int rc;

	*out = NULL;
	if (!w)
		return sr_fail(err, SR_ENOMEM, "out of memory");
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->work, NULL);
	pthread_cond_init(&w->done, NULL);
	w->p = *p;
	if (w->p.frame_bytes == 0)
		w->p.frame_bytes = SR_SHARD_FRAME_BYTES_DEFAULT;
	if (w->p.level < 1 || w->p.level > ZSTD_maxCLevel()) {
		sr_shard_writer_free(w);
		return sr_fail(err, SR_EUSAGE, "zstd level %d is out of range 1..%d",
		               p->level, ZSTD_maxCLevel());
	}
	w->nworkers = thread_count(p->threads);
	w->nslots = (size_t)w->nworkers * FRAMES_PER_THREAD + 1;
	w->slots = calloc(w->nslots, sizeof(*w->slots));
	w->workers = calloc((size_t)w->nworkers, sizeof(*w->workers));
	w->cctx = calloc((size_t)w->nworkers, sizeof(*w->cctx));
	w->xs = XXH64_createState();
	if (!w->slots || !w->workers || !w->cctx || !w->xs) {
		sr_shard_writer_free(w);
		return sr_fail(err, SR_ENOMEM, "out of memory");
	}
	XXH64_reset(w->xs, 0);
	for (int i = 0; i < w->nworkers; i++) {
		w->cctx[i] = ZSTD_createCCtx();
		if (!w->cctx[i]) {
			sr_shard_writer_free(w);
			return sr_fail(err, SR_ENOMEM, "out of memory");
		}
		ZSTD_CCtx_setParameter(w->cctx[i], ZSTD_c_compressionLevel, w->p.level);
		ZSTD_CCtx_setParameter(w->cctx[i], ZSTD_c_checksumFlag, 1);
		ZSTD_CCtx_setParameter(w->cctx[i], ZSTD_c_contentSizeFlag, 1);
	}
	rc = sr_output_open(path, SR_OUTPUT_ATOMIC | SR_OUTPUT_FSYNC, &w->out, err);
	if (rc < 0) {
		sr_shard_writer_free(w);
		return rc;
	}
	for (int i = 0; i < w->nworkers; i++) {
		struct worker_arg *wa = malloc(sizeof(*wa));
		if (wa) {
			wa->w = w;
			wa->index = i;
		}
		if (!wa || pthread_create(&w->workers[i], NULL, compress_worker, wa) != 0) {
			free(wa);
			sr_shard_writer_free(w);
			return sr_fail(err, SR_EIO, "cannot start a compression thread");
		}
		w->started++;
	}
	*out = w;
	return 0;
}

static int grow(char **buf, size_t *cap, size_t need)
{
	size_t n = *cap ? *cap : 4096;
	char *p;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	p = realloc(*buf, n);
	if (!p)
		return SR_ENOMEM;
	*buf = p;
	*cap = n;
	return 0;
}

static int note_frame(struct sr_shard_writer *w, const struct slot *f, size_t zlen)
{
	struct sr_shard_frame *fr;

	if (w->nframes == w->framecap) {
		size_t n = w->framecap ? w->framecap * 2 : 64;
		fr = realloc(w->frames, n * sizeof(*fr));
		if (!fr)
			return SR_ENOMEM;
		w->frames = fr;
		w->framecap = n;
	}
	fr = &w->frames[w->nframes++];
	fr->offset = w->offset;
	fr->bytes = zlen;
	fr->records = f->records;
	fr->xxh64 = XXH64(f->z, zlen, 0);
	return 0;
}

/* Wait for the oldest unwritten frame, write it and free its slot. */
static int write_oldest(struct sr_shard_writer *w, struct sr_error *err)
{
	struct slot *f = &w->slots[w->written % w->nslots];
	size_t zlen;
	int rc;

	pthread_mutex_lock(&w->lock);
	while (!f->done)
		pthread_cond_wait(&w->done, &w->lock);
	f->done = 0;
	pthread_mutex_unlock(&w->lock);
	w->written++;
	if (ZSTD_isError(f->zret))
		return sr_fail(err, SR_EIO, "zstd compression failed: %s", ZSTD_getErrorName(f->zret));
	zlen = f->zret;
	if (note_frame(w, f, zlen) < 0)
		return sr_fail(err, SR_ENOMEM, "out of memory");
	rc = sr_output_write(w->out, f->z, zlen, err);
	if (rc < 0)
		return rc;
	XXH64_update(w->xs, f->z, zlen);
	w->offset += zlen;
	f->rawlen = 0;
	f->records = 0;
	return 0;
}

/* Hand the frame being filled to the workers. */
static int submit(struct sr_shard_writer *w, struct sr_error *err)
{
	struct slot *f = &w->slots[w->submitted % w->nslots];

	if (grow(&f->z, &f->zcap, ZSTD_compressBound(f->rawlen)) < 0)
		return sr_fail(err, SR_ENOMEM, "out of memory");
	pthread_mutex_lock(&w->lock);
	w->submitted++;
	pthread_cond_signal(&w->work);
	pthread_mutex_unlock(&w->lock);
	/* The next frame's slot must be free before it is filled. */
	if (w->submitted - w->written == w->nslots)
		return write_oldest(w, err);
	return 0;
}

int sr_shard_writer_add(struct sr_shard_writer *w, const char *line, size_t len,
                        struct sr_error *err)
{
	struct slot *f;

	if (len == 0 || line[len - 1] != '\n' || memchr(line, '\n', len - 1))
		return sr_fail(err, SR_EDATA, "a shard record must be one line ending in a newline");
	f = &w->slots[w->submitted % w->nslots];
	if (f->rawlen > 0 && f->rawlen + len > w->p.frame_bytes) {
		int rc = submit(w, err);
		if (rc < 0)
			return rc;
		f = &w->slots[w->submitted % w->nslots];
	}
	if (grow(&f->raw, &f->rawcap, f->rawlen + len) < 0)
		return sr_fail(err, SR_ENOMEM, "out of memory");
	memcpy(f->raw + f->rawlen, line, len);
	f->rawlen += len;
	f->records++;
	w->records++;
	w->raw_bytes += len;
	return 0;
}

uint64_t sr_shard_writer_raw_bytes(const struct sr_shard_writer *w)
{
	return w->raw_bytes;
}

int sr_shard_writer_commit(struct sr_shard_writer *w, struct sr_shard_info *info,
                           struct sr_error *err)
{
	int rc = 0;

	if (w->slots[w->submitted % w->nslots].rawlen > 0)
		rc = submit(w, err);
	while (rc == 0 && w->written < w->submitted)
		rc = write_oldest(w, err);
	if (rc < 0)
		return rc;
	rc = sr_output_commit(w->out, err);
	if (rc < 0)
		return rc;
	sr_shard_info_init(info);
	info->records = w->records;
	info->bytes = w->offset;
	info->raw_bytes = w->raw_bytes;
	info->xxh64 = XXH64_digest(w->xs);
	info->frames = w->frames;
	info->nframes = w->nframes;
	w->frames = NULL;
	w->nframes = w->framecap = 0;
	return 0;
}

void sr_shard_writer_free(struct sr_shard_writer *w)
{
	if (!w)
		return;
	stop_workers(w);
	sr_output_free(w->out);
	if (w->cctx)
		for (int i = 0; i < w->nworkers; i++)
			ZSTD_freeCCtx(w->cctx[i]);
	if (w->slots) {
		for (size_t k = 0; k < w->nslots; k++) {
			free(w->slots[k].raw);
			free(w->slots[k].z);
		}
	}
	free(w->slots);
	free(w->cctx);
	free(w->workers);
	XXH64_freeState(w->xs);
	free(w->frames);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->work);
	pthread_cond_destroy(&w->done);
	free(w);
}

/* ---- reader ---- */

struct sr_shard_reader {
	char *path;
	const unsigned char *map;
	uint64_t size, pos;
	size_t frame; /* frames read so far */
	ZSTD_DCtx *dctx;
	char *buf;
	size_t bufcap;
};

int sr_shard_reader_open(const char *path, struct sr_shard_reader **out, struct sr_error *err)
{
	struct sr_shard_reader *r = calloc(1, sizeof(*r));
	struct stat st;
	int fd;

	*out = NULL;
	if (!r)
		return sr_fail(err, SR_ENOMEM, "out of memory");
	r->path = strdup(path);
	r->dctx = ZSTD_createDCtx();
	if (!r->path || !r->dctx) {
		sr_shard_reader_free(r);
		return sr_fail(err, SR_ENOMEM, "out of memory");
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		sr_shard_reader_free(r);
		return sr_fail(err, e == ENOENT ? SR_ENOTFOUND : SR_EIO,
		               "cannot open '%s': %s", path, strerror(e));
	}
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		sr_shard_reader_free(r);
		return sr_fail(err, SR_EIO, "cannot stat '%s': %s", path, strerror(e));
	}
	r->size = (uint64_t)st.st_size;
	if (r->size > 0) {
		void *m = mmap(NULL, r->size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (m == MAP_FAILED) {
			int e = errno;
			close(fd);
			sr_shard_reader_free(r);
			return sr_fail(err, SR_EIO, "cannot map '%s': %s", path, strerror(e));
		}
		madvise(m, r->size, MADV_SEQUENTIAL);
		r->map = m;
	}
	close(fd);
	*out = r;
	return 0;
}

static int frame_fail(struct sr_shard_reader *r, struct sr_error *err, const char *what)
{
	return sr_fail(err, SR_EDATA, "frame %zu at byte offset %" PRIu64 ": %s",
	               r->frame, r->pos, what);
}

int sr_shard_reader_next(struct sr_shard_reader *r, const char **data, size_t *len,
                         struct sr_shard_frame *frame, struct sr_error *err)
{
	const unsigned char *src = r->map + r->pos;
	size_t avail = (size_t)(r->size - r->pos);
	size_t csize, dsize;
	unsigned long long content;
	char msg[256];
	uint64_t records = 0;

	if (r->pos >= r->size)
		return 0;
	csize = ZSTD_findFrameCompressedSize(src, avail);
	if (ZSTD_isError(csize)) {
		snprintf(msg, sizeof(msg), "truncated or damaged zstd frame (%s)",
		         ZSTD_getErrorName(csize));
		return frame_fail(r, err, msg);
	}
	content = ZSTD_getFrameContentSize(src, csize);
	if (content == ZSTD_CONTENTSIZE_ERROR)
		return frame_fail(r, err, "damaged zstd frame header");
	if (content == ZSTD_CONTENTSIZE_UNKNOWN)
		return frame_fail(r, err, "zstd frame without a content size (not written by sr-mix)");
	if (content > SR_SHARD_FRAME_MAX)
		return frame_fail(r, err, "frame content larger than 2 GiB");
	if (grow(&r->buf, &r->bufcap, (size_t)content + 1) < 0)
		return sr_fail(err, SR_ENOMEM, "out of memory");
	dsize = ZSTD_decompressDCtx(r->dctx, r->buf, r->bufcap, src, csize);
	if (ZSTD_isError(dsize)) {
		snprintf(msg, sizeof(msg), "damaged zstd frame (%s)", ZSTD_getErrorName(dsize));
		return frame_fail(r, err, msg);
	}
	if (dsize != content)
		return frame_fail(r, err, "decompressed size differs from the frame header");
	if (dsize > 0 && r->buf[dsize - 1] != '\n')
		return frame_fail(r, err, "frame does not end with a complete line");
	for (const char *p = r->buf, *end = r->buf + dsize;
	     (p = memchr(p, '\n', (size_t)(end - p))) != NULL; p++)
		records++;
	r->buf[dsize] = '\0';
	if (frame) {
		frame->offset = r->pos;
		frame->bytes = csize;
		frame->records = records;
		frame->xxh64 = XXH64(src, csize, 0);
	}
	*data = r->buf;
	*len = dsize;
	r->pos += csize;
	r->frame++;
	return 1;
}

size_t sr_shard_reader_frame_index(const struct sr_shard_reader *r)
{
	return r->frame;
}

uint64_t sr_shard_reader_size(const struct sr_shard_reader *r)
{
	return r->size;
}

void sr_shard_reader_free(struct sr_shard_reader *r)
{
	if (!r)
		return;
	if (r->map)
		munmap((void *)r->map, r->size);
	ZSTD_freeDCtx(r->dctx);
	free(r->buf);
	free(r->path);
	free(r);
}

/* ---- verification ---- */

static int get_u64(json_t *obj, const char *key, uint64_t *out)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return SR_EDATA;
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static int get_hash(json_t *obj, const char *key, uint64_t *out)
{
	return sr_xxh64_parse(json_string_value(json_object_get(obj, key)), out);
}

/* Compare one frame read from the file with the manifest's entry for it. */
static int check_frame(const struct sr_shard_frame *got, json_t *want, size_t k,
                       struct sr_error *err)
{
	uint64_t offset, bytes, records, h;
	char a[17], b[17];

	if (get_u64(want, "offset", &offset) < 0 || get_u64(want, "bytes", &bytes) < 0 ||
	    get_u64(want, "records", &records) < 0 || get_hash(want, "xxh64", &h) < 0)
		return sr_fail(err, SR_EDATA, "manifest entry of frame %zu is invalid", k);
	if (got->offset != offset || got->bytes != bytes)
		return sr_fail(err, SR_EDATA,
		               "frame %zu at byte offset %" PRIu64 ": %" PRIu64 " bytes, but the "
		               "manifest lists %" PRIu64 " bytes at offset %" PRIu64,
		               k, got->offset, got->bytes, bytes, offset);
	if (got->xxh64 != h) {
		sr_xxh64_hex(got->xxh64, a);
		sr_xxh64_hex(h, b);
		return sr_fail(err, SR_EDATA,
		               "frame %zu at byte offset %" PRIu64 ": xxh64 %s, but the manifest lists %s",
		               k, got->offset, a, b);
	}
	if (got->records != records)
		return sr_fail(err, SR_EDATA,
		               "frame %zu at byte offset %" PRIu64 ": %" PRIu64 " records, but the "
		               "manifest lists %" PRIu64, k, got->offset, got->records, records);
	return 0;
}

static int verify_frames(struct sr_shard_reader *r, json_t *frames, uint64_t *records,
                         sr_shard_frame_fn fn, void *ctx, struct sr_error *err)
{
	size_t nwant = json_array_size(frames);
	struct sr_shard_frame got;
	const char *data;
	size_t len;
	int rc;

	*records = 0;
	while ((rc = sr_shard_reader_next(r, &data, &len, &got, err)) > 0) {
		size_t k = sr_shard_reader_frame_index(r) - 1;
		if (k >= nwant)
			return sr_fail(err, SR_EDATA,
			               "frame %zu at byte offset %" PRIu64 ": the manifest lists only "
			               "%zu frames", k, got.offset, nwant);
		rc = check_frame(&got, json_array_get(frames, k), k, err);
		if (rc == 0 && fn)
			rc = fn(ctx, data, len, k, &got, err);
		if (rc < 0)
			return rc;
		*records += got.records;
	}
	if (rc < 0)
		return rc;
	if (sr_shard_reader_frame_index(r) < nwant)
		return sr_fail(err, SR_EDATA,
		               "frame %zu missing: the file ends after %zu of %zu frames (truncated)",
		               sr_shard_reader_frame_index(r), sr_shard_reader_frame_index(r), nwant);
	return 0;
}

int sr_shard_verify(const char *path, json_t *entry, struct sr_error *err)
{
	return sr_shard_verify_each(path, entry, NULL, NULL, err);
}

int sr_shard_verify_each(const char *path, json_t *entry, sr_shard_frame_fn fn, void *ctx,
                         struct sr_error *err)
{
	struct sr_shard_reader *r = NULL;
	uint64_t want_records, want_bytes, want_hash, records, h;
	char a[17], b[17];
	int rc;

	if (get_u64(entry, "records", &want_records) < 0 || get_u64(entry, "bytes", &want_bytes) < 0 ||
	    get_hash(entry, "xxh64", &want_hash) < 0 ||
	    !json_is_array(json_object_get(entry, "frames")))
		return sr_fail(err, SR_EDATA, "manifest entry of '%s' is invalid", path);
	rc = sr_shard_reader_open(path, &r, err);
	if (rc < 0)
		return rc == SR_ENOTFOUND ? SR_EDATA : rc;
	rc = verify_frames(r, json_object_get(entry, "frames"), &records, fn, ctx, err);
	if (rc < 0)
		goto done;
	if (sr_shard_reader_size(r) != want_bytes) {
		rc = sr_fail(err, SR_EDATA, "file is %" PRIu64 " bytes, but the manifest lists %" PRIu64,
		             sr_shard_reader_size(r), want_bytes);
		goto done;
	}
	if (records != want_records) {
		rc = sr_fail(err, SR_EDATA, "%" PRIu64 " records, but the manifest lists %" PRIu64,
		             records, want_records);
		goto done;
	}
	h = XXH64(r->map, (size_t)r->size, 0);
	if (h != want_hash) {
		sr_xxh64_hex(h, a);
		sr_xxh64_hex(want_hash, b);
		rc = sr_fail(err, SR_EDATA, "file xxh64 %s, but the manifest lists %s", a, b);
	}
done:
	sr_shard_reader_free(r);
	return rc;
}

/* ---- manifest ---- */

static json_t *hash_json(uint64_t h)
{
	char hex[17];

	sr_xxh64_hex(h, hex);
	return json_string(hex);
}

json_t *sr_shard_info_json(const struct sr_shard_info *info, const char *split, const char *file)
{
	json_t *o = json_object(), *frames = json_array();

	if (!o || !frames) {
		json_decref(o);
		json_decref(frames);
		return NULL;
	}
	/* json_object_set_new and json_array_append_new steal the new values. */
	json_object_set_new(o, "split", json_string(split));
	json_object_set_new(o, "file", json_string(file));
	json_object_set_new(o, "records", json_integer((json_int_t)info->records));
	json_object_set_new(o, "bytes", json_integer((json_int_t)info->bytes));
	json_object_set_new(o, "raw_bytes", json_integer((json_int_t)info->raw_bytes));
	json_object_set_new(o, "xxh64", hash_json(info->xxh64));
	for (size_t k = 0; k < info->nframes; k++) {
		const struct sr_shard_frame *f = &info->frames[k];
		json_t *fo = json_object();
		json_object_set_new(fo, "offset", json_integer((json_int_t)f->offset));
		json_object_set_new(fo, "bytes", json_integer((json_int_t)f->bytes));
		json_object_set_new(fo, "records", json_integer((json_int_t)f->records));
		json_object_set_new(fo, "xxh64", hash_json(f->xxh64));
		json_array_append_new(frames, fo);
	}
	json_object_set_new(o, "frames", frames);
	return o;
}

int sr_manifest_write(const char *dir, json_t *manifest, struct sr_error *err)
{
	struct sr_output *out = NULL;
	char path[4096];
	char *text;
	int rc;

	if ((size_t)snprintf(path, sizeof(path), "%s/manifest.json", dir) >= sizeof(path))
		return sr_fail(err, SR_EUSAGE, "output directory name too long");
	text = json_dumps(manifest, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
	if (!text)
		return sr_fail(err, SR_ENOMEM, "cannot serialise the manifest");
	rc = sr_output_open(path, SR_OUTPUT_ATOMIC | SR_OUTPUT_FSYNC, &out, err);
	if (rc == 0)
		rc = sr_output_write(out, text, strlen(text), err);
	if (rc == 0)
		rc = sr_output_write(out, "\n", 1, err);
	if (rc == 0)
		rc = sr_output_commit(out, err);
	sr_output_free(out);
	free(text);
	return rc;
}

int sr_manifest_read(const char *dir, json_t **out, struct sr_error *err)
{
	struct sr_schema *schema = NULL;
	char path[4096];
	char *data = NULL;
	size_t len = 0;
	json_t *doc = NULL;
	int rc;

	*out = NULL;
	if ((size_t)snprintf(path, sizeof(path), "%s/manifest.json", dir) >= sizeof(path))
		return sr_fail(err, SR_EUSAGE, "directory name too long");
	rc = sr_read_file(path, MANIFEST_MAX, &data, &len, err);
	if (rc < 0)
		return rc;
	doc = sr_json_parse(data, len, err);
	if (!doc) {
		rc = err && err->code ? err->code : SR_EDATA;
		goto done;
	}
	rc = sr_schema_load_named("manifest", &schema, err);
	if (rc < 0)
		goto done;
	rc = sr_schema_validate(schema, doc, err);
	if (rc < 0)
		goto done;
	*out = doc;
	doc = NULL;
done:
	if (rc < 0 && err && !err->file[0])
		snprintf(err->file, sizeof(err->file), "%.*s", (int)sizeof(err->file) - 1, path);
	json_decref(doc);
	sr_schema_free(schema);
	free(data);
	return rc;
}
