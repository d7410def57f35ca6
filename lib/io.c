/* io.c - inputs with zstd detection, outputs checked on every write. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>
#include "io.h"

#define IN_BUF (1u << 17)

struct sr_input {
	int fd;
	int own_fd;
	char *name;
	int zstd;
	ZSTD_DCtx *dctx;
	unsigned char *raw;        /* compressed (or sniffed) bytes */
	size_t raw_pos, raw_len;
	int eof;                   /* underlying fd reached end */
	size_t frame_left;         /* ZSTD_decompressStream's hint; 0 = frame complete */
	int in_frame;
};

static ssize_t read_fd(int fd, void *buf, size_t cap)
{
	ssize_t n;
	do
		n = read(fd, buf, cap);
	while (n < 0 && errno == EINTR);
	return n;
}

static int fill_raw(struct sr_input *in, struct sr_error *err)
{
	ssize_t n;
	if (in->raw_pos > 0 && in->raw_pos < in->raw_len)
		memmove(in->raw, in->raw + in->raw_pos, in->raw_len - in->raw_pos);
	in->raw_len -= in->raw_pos;
	in->raw_pos = 0;
	if (in->eof || in->raw_len == IN_BUF)
		return 0;
	n = read_fd(in->fd, in->raw + in->raw_len, IN_BUF - in->raw_len);
	if (n < 0)
		return sr_fail(err, SR_EIO, "cannot read '%s': %s", in->name, strerror(errno));
	if (n == 0)
		in->eof = 1;
	in->raw_len += (size_t)n;
	return 0;
}

int sr_input_open(const char *path, struct sr_input **out, struct sr_error *err)
{
	struct sr_input *in = calloc(1, sizeof *in);
	int rc;

	*out = NULL;
	if (!in || !(in->raw = malloc(IN_BUF))) {
		free(in);
		return sr_fail(err, SR_ENOMEM, "out of memory");
	}
	if (!path || strcmp(path, "-") == 0) {
		in->fd = 0;
		in->name = strdup("-");
	} else {
		in->fd = open(path, O_RDONLY | O_CLOEXEC);
		in->name = strdup(path);
		in->own_fd = 1;
		if (in->fd < 0) {
			int e = errno;
			sr_input_free(in);
			return sr_fail(err, SR_EIO,
			               "cannot open '%s': %s", path, strerror(e));
		}
	}
	if (!in->name) {
		sr_input_free(in);
		return sr_fail(err, SR_ENOMEM, "out of memory");
	}
	/* Sniff the first four bytes for the zstd frame magic. */
	while (!in->eof && in->raw_len < 4)
		if ((rc = fill_raw(in, err)) < 0) {
			sr_input_free(in);
			return rc;
		}
	/* A zstd frame (28 B5 2F FD) or a skippable frame (5? 2A 4D 18, which
	 * pzstd writes first) starts a zstd stream. */
	if (in->raw_len >= 4 &&
	    ((in->raw[0] == 0x28 && in->raw[1] == 0xB5 && in->raw[2] == 0x2F && in->raw[3] == 0xFD) ||
	     ((in->raw[0] & 0xF0) == 0x50 && in->raw[1] == 0x2A && in->raw[2] == 0x4D &&
	      in->raw[3] == 0x18))) {
		in->zstd = 1;
		in->dctx = ZSTD_createDCtx();
		if (!in->dctx) {
			sr_input_free(in);
			return sr_fail(err, SR_ENOMEM, "out of memory");
		}
	}
	*out = in;
	return 0;
}

ssize_t sr_input_read(struct sr_input *in, void *buf, size_t cap, struct sr_error *err)
{
	int rc;

	if (!in->zstd) {
		if (in->raw_pos < in->raw_len) {
			size_t n = in->raw_len - in->raw_pos;
			if (n > cap)
				n = cap;
			memcpy(buf, in->raw + in->raw_pos, n);
			in->raw_pos += n;
			return (ssize_t)n;
		}
		if (in->eof)
			return 0;
		ssize_t n = read_fd(in->fd, buf, cap);
		if (n < 0)
			return sr_fail(err, SR_EIO, "cannot read '%s': %s", in->name, strerror(errno));
		if (n == 0)
			in->eof = 1;
		return n;
	}

	for (;;) {
		ZSTD_inBuffer ib = { in->raw, in->raw_len, in->raw_pos };
		ZSTD_outBuffer ob = { buf, cap, 0 };
		if (in->raw_pos == in->raw_len) {
			if (in->eof) {
				if (in->in_frame)
					return sr_fail(err, SR_EDATA,
					               "'%s': truncated zstd frame (input ended inside a frame)",
					               in->name);
				return 0;
			}
			if ((rc = fill_raw(in, err)) < 0)
				return rc;
			continue;
		}
		size_t r = ZSTD_decompressStream(in->dctx, &ob, &ib);
		in->raw_pos = ib.pos;
		if (ZSTD_isError(r))
			return sr_fail(err, SR_EDATA, "'%s': corrupt zstd data: %s",
			               in->name, ZSTD_getErrorName(r));
		in->in_frame = r != 0;
		if (ob.pos > 0)
			return (ssize_t)ob.pos;
		if (in->raw_pos == in->raw_len && !in->eof)
			if ((rc = fill_raw(in, err)) < 0)
				return rc;
	}
}

const char *sr_input_name(const struct sr_input *in)
{
	return in->name;
}

int sr_input_is_zstd(const struct sr_input *in)
{
	return in->zstd;
}

void sr_input_free(struct sr_input *in)
{
	if (!in)
		return;
	if (in->own_fd && in->fd >= 0)
		close(in->fd);
	ZSTD_freeDCtx(in->dctx);
	free(in->raw);
	free(in->name);
	free(in);
}

int sr_read_file(const char *path, size_t max, char **data, size_t *len, struct sr_error *err)
{
	struct sr_input *in;
	char *buf = NULL;
	size_t n = 0, cap = 0;
	int rc;

	*data = NULL;
	*len = 0;
	if ((rc = sr_input_open(path, &in, err)) < 0)
		return rc;
	for (;;) {
		if (cap - n < 65536 + 1) {
			size_t ncap = cap ? cap * 2 : 65536 * 2;
			char *nb = realloc(buf, ncap);
			if (!nb) {
				rc = sr_fail(err, SR_ENOMEM, "out of memory reading '%s'", path);
				goto fail;
			}
			buf = nb;
			cap = ncap;
		}
		ssize_t k = sr_input_read(in, buf + n, cap - n - 1, err);
		if (k < 0) {
			rc = (int)k;
			goto fail;
		}
		if (k == 0)
			break;
		n += (size_t)k;
		if (n > max) {
			rc = sr_fail(err, SR_ETOOBIG, "'%s' is larger than %zu bytes", path, max);
			goto fail;
		}
	}
	if (!buf && !(buf = malloc(1))) {
		rc = sr_fail(err, SR_ENOMEM, "out of memory");
		goto fail;
	}
	buf[n] = '\0';
	sr_input_free(in);
	*data = buf;
	*len = n;
	return 0;
fail:
	free(buf);
	sr_input_free(in);
	return rc;
}

/* ---- output ---- */

#define OUT_BUF (1u << 17)

struct sr_output {
	int fd;
	int own_fd;
	int flags;
	char *name;       /* final path */
	char *tmpname;    /* temporary path for atomic outputs */
	char *buf;
	size_t len;
	uint64_t bytes;
	int committed;
	int failed;
};

/* Remove PATH.tmp.PID files that a killed earlier run left behind, when
 * process PID no longer exists. Another live writer's file is kept. */
static void remove_stale_temporaries(const char *path)
{
	char dir[4096], prefix[4096];
	const char *slash = strrchr(path, '/');
	DIR *d;
	struct dirent *e;
	size_t plen;

	if (slash) {
		snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
		if (!dir[0])
			snprintf(dir, sizeof dir, "/");
		snprintf(prefix, sizeof prefix, "%s.tmp.", slash + 1);
	} else {
		snprintf(dir, sizeof dir, ".");
		snprintf(prefix, sizeof prefix, "%s.tmp.", path);
	}
	plen = strlen(prefix);
	if (!(d = opendir(dir)))
		return;
	while ((e = readdir(d))) {
		char *end;
		long pid;
		if (strncmp(e->d_name, prefix, plen) != 0)
			continue;
		pid = strtol(e->d_name + plen, &end, 10);
		if (*end || pid <= 0 || pid == (long)getpid())
			continue;
		if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		char stale[8200];
		snprintf(stale, sizeof stale, "%s/%s", dir, e->d_name);
		unlink(stale);
	}
	closedir(d);
}

static void ignore_sigpipe(void)
{
	static int done;
	if (!done) {
		signal(SIGPIPE, SIG_IGN);
		done = 1;
	}
}

static int output_open_path(const char *path, int flags, struct sr_output **out,
                            struct sr_error *err)
{
	struct sr_output *o = calloc(1, sizeof *o);

	ignore_sigpipe();
	*out = NULL;
	if (!o || !(o->buf = malloc(OUT_BUF))) {
		free(o);
		return sr_fail(err, SR_ENOMEM, "out of memory");
	}
	o->flags = flags;
	if (!path || strcmp(path, "-") == 0) {
		o->fd = 1;
		o->name = strdup("standard output");
		o->flags &= ~SR_OUTPUT_ATOMIC;
	} else {
		int oflags = O_WRONLY | O_CREAT | O_CLOEXEC;
		o->name = strdup(path);
		o->own_fd = 1;
		if (flags & SR_OUTPUT_ATOMIC) {
			size_t n = strlen(path) + 32;
			remove_stale_temporaries(path);
			o->tmpname = malloc(n);
			if (o->tmpname)
				snprintf(o->tmpname, n, "%s.tmp.%ld", path, (long)getpid());
			oflags |= O_TRUNC;
		} else if (flags & SR_OUTPUT_APPEND) {
			oflags |= O_APPEND;
		} else {
			oflags |= O_TRUNC;
		}
		if (!o->name || ((flags & SR_OUTPUT_ATOMIC) && !o->tmpname)) {
			sr_output_free(o);
			return sr_fail(err, SR_ENOMEM, "out of memory");
		}
		o->fd = open(o->tmpname ? o->tmpname : path, oflags, 0666);
		if (o->fd < 0) {
			int e = errno;
			sr_fail(err, SR_EIO, "cannot open '%s' for writing: %s", path, strerror(e));
			free(o->tmpname);
			o->tmpname = NULL;
			sr_output_free(o);
			return SR_EIO;
		}
	}
	if (!o->name) {
		sr_output_free(o);
		return sr_fail(err, SR_ENOMEM, "out of memory");
	}
	*out = o;
	return 0;
}

int sr_output_open(const char *path, int flags, struct sr_output **out, struct sr_error *err)
{
	char *resolved = NULL;
	int rc;

	if ((flags & SR_OUTPUT_ATOMIC) && path && strcmp(path, "-") != 0) {
		/* Devices, FIFOs and descriptor links such as /dev/stdout are
		 * written in place: renaming a temporary file over /dev/full or
		 * over the /dev/stdout link would replace the node itself. A
		 * symbolic link to a regular file is followed, so the rename
		 * replaces the file and the link stays. */
		struct stat lst, st;
		if (lstat(path, &lst) == 0) {
			int is_link = S_ISLNK(lst.st_mode);
			if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) ||
			    (is_link && (strncmp(path, "/dev/", 5) == 0 || strncmp(path, "/proc/", 6) == 0)))
				flags &= ~SR_OUTPUT_ATOMIC;
			else if (is_link && !(resolved = realpath(path, NULL)))
				flags &= ~SR_OUTPUT_ATOMIC;
		}
	}
	rc = output_open_path(resolved ? resolved : path, flags, out, err);
	free(resolved);
	return rc;
}

static int drain(struct sr_output *o, struct sr_error *err)
{
	size_t off = 0;
	if (o->failed)
		return o->failed;
	while (off < o->len) {
		ssize_t n = write(o->fd, o->buf + off, o->len - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EPIPE) {
				o->failed = SR_EPIPE;
				return sr_fail(err, SR_EPIPE, "output pipe closed");
			}
			o->failed = SR_EIO;
			return sr_fail(err, SR_EIO, "cannot write '%s': %s", o->name, strerror(errno));
		}
		off += (size_t)n;
	}
	o->len = 0;
	return 0;
}

int sr_output_write(struct sr_output *o, const void *buf, size_t len, struct sr_error *err)
{
	const char *p = buf;
	int rc;
	if (o->failed)
		return o->failed;
	o->bytes += len;
	if (len >= OUT_BUF) {
		if ((rc = drain(o, err)) < 0)
			return rc;
		/* Large writes go straight through. */
		while (len > 0) {
			ssize_t n = write(o->fd, p, len);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				o->failed = errno == EPIPE ? SR_EPIPE : SR_EIO;
				if (errno == EPIPE)
					return sr_fail(err, SR_EPIPE, "output pipe closed");
				return sr_fail(err, SR_EIO, "cannot write '%s': %s", o->name, strerror(errno));
			}
			p += n;
			len -= (size_t)n;
		}
		return 0;
	}
	if (o->len + len > OUT_BUF && (rc = drain(o, err)) < 0)
		return rc;
	memcpy(o->buf + o->len, p, len);
	o->len += len;
	return 0;
}

int sr_output_printf(struct sr_output *o, struct sr_error *err, const char *fmt, ...)
{
	char small[1024], *p = small;
	va_list ap;
	int n, rc;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0)
		return sr_fail(err, SR_EIO, "formatting failed");
	if ((size_t)n >= sizeof small) {
		if (!(p = malloc((size_t)n + 1)))
			return sr_fail(err, SR_ENOMEM, "out of memory");
		va_start(ap, fmt);
		vsnprintf(p, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	rc = sr_output_write(o, p, (size_t)n, err);
	if (p != small)
		free(p);
	return rc;
}

int sr_output_flush(struct sr_output *o, struct sr_error *err)
{
	return drain(o, err);
}

int sr_output_sync(struct sr_output *o, struct sr_error *err)
{
	int rc = drain(o, err);
	if (rc < 0)
		return rc;
	if (fsync(o->fd) < 0 && errno != EINVAL && errno != EROFS)
		return sr_fail(err, SR_EIO, "cannot sync '%s': %s", o->name, strerror(errno));
	return 0;
}

int sr_output_commit(struct sr_output *o, struct sr_error *err)
{
	int rc;
	if (o->committed)
		return 0;
	if ((rc = drain(o, err)) < 0)
		return rc;
	if ((o->flags & (SR_OUTPUT_FSYNC | SR_OUTPUT_ATOMIC)) && o->own_fd &&
	    fsync(o->fd) < 0 && errno != EINVAL && errno != EROFS)
		return sr_fail(err, SR_EIO, "cannot sync '%s': %s", o->name, strerror(errno));
	if (o->own_fd) {
		if (close(o->fd) < 0) {
			o->fd = -1;
			return sr_fail(err, SR_EIO, "cannot close '%s': %s", o->name, strerror(errno));
		}
		o->fd = -1;
	}
	if (o->tmpname) {
		if (rename(o->tmpname, o->name) < 0)
			return sr_fail(err, SR_EIO, "cannot rename '%s' to '%s': %s",
			               o->tmpname, o->name, strerror(errno));
		free(o->tmpname);
		o->tmpname = NULL;
	}
	o->committed = 1;
	return 0;
}

void sr_output_free(struct sr_output *o)
{
	if (!o)
		return;
	if (o->own_fd && o->fd >= 0)
		close(o->fd);
	if (o->tmpname) {
		unlink(o->tmpname);
		free(o->tmpname);
	}
	free(o->name);
	free(o->buf);
	free(o);
}

const char *sr_output_name(const struct sr_output *o)
{
	return o->name;
}

uint64_t sr_output_bytes(const struct sr_output *o)
{
	return o->bytes;
}
