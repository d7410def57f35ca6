/*
 * teacher.h - the built-in teacher: a deterministic, rule-based writer of
 * reasoning samples for sr-synth when no model endpoint is at hand.
 *
 * For each guideline of the record's set that applies to the record's
 * label it writes one reasoning step from the set's `builtin.steps`
 * templates. The templates are filled with what it detects in the query:
 * text encoded as base64, hex, rot13, reversed characters, reversed word
 * order or leetspeak (decoded and quoted), role-play, fiction,
 * hypothetical and persuasion framing, past or future tense and claimed
 * purposes (the set's `detect` patterns), and the harm category (the
 * record's `category`, else the set's harm lexicon). The answer is a brief refusal naming the reason for harmful
 * records and the record's `reference` for benign ones. The same record,
 * set and sample index always give the same bytes.
 *
 * Ownership: sr_teacher_new returns a teacher freed by sr_teacher_free.
 * Records are borrowed. sr_teacher_complete returns a new string.
 */
#ifndef SR_TEACHER_H
#define SR_TEACHER_H

#include <stddef.h>
#include "guideset.h"
#include "record.h"
#include "sr.h"

struct sr_teacher;

/* Findings of the detectors in one query, for the templates and for tests. */
struct sr_teacher_findings {
	char encoding[32];   /* "base64", "hex", "rot13", "reversed characters",
	                        "reversed word order", or "" */
	char *decoded;       /* the decoded query (new string), or NULL when nothing was decoded */
	char framing[64];    /* names of the framing patterns that matched, comma-separated */
	char tense[16];      /* "past", "future" or "" */
	char purpose[64];    /* names of the claimed-purpose patterns that matched */
	char category[64];   /* harm category from the record or the lexicon, or "" */
	char severity[16];   /* the lexicon's severity for that category, or "" */
	char keywords[256];  /* lexicon keywords found, comma-separated */
};

/* Create a teacher. guidelines_path, if not NULL, replaces loading each
 * record's set by name. */
int sr_teacher_new(const char *guidelines_path, struct sr_teacher **out, struct sr_error *err);
void sr_teacher_free(struct sr_teacher *t);

/* Write sample number `sample` for a prompt record into *text (new,
 * NUL-terminated, *len bytes). The sample index only chooses among the
 * set's alternative templates. Returns 0 with the text, or 1 when the
 * teacher cannot write a sample for the record (a benign record without `reference`), with
 * the reason in err->message, so the caller can report the sample as
 * failed and go on. A negative code means the record's guideline set is
 * missing, invalid or of another version (SR_EDATA, SR_ENOTFOUND, with
 * err naming the field or file). */
int sr_teacher_complete(struct sr_teacher *t, struct sr_record *rec, int sample, char **text,
                        size_t *len, struct sr_error *err);

/* Analyse a query with a set's `detect` block (gs is borrowed and must
 * outlive t). A non-empty category, such as the record's, wins over the
 * lexicon. Fills f; release it with sr_teacher_findings_release. */
int sr_teacher_analyse(struct sr_teacher *t, const struct sr_guideset *gs, const char *query,
                       const char *category, struct sr_teacher_findings *f,
                       struct sr_error *err);
void sr_teacher_findings_release(struct sr_teacher_findings *f);

#endif
