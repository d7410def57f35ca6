/*
 * normalize.h - text normalisation for comparing keys: Unicode NFKC, case
 * folding, whitespace folding and punctuation folding.
 *
 * Ownership: results go into a caller-owned struct sr_buf, which is reset
 * first and left holding the normalised text. The functions keep no state,
 * so separate threads may call them with separate buffers.
 */
#ifndef SR_NORMALIZE_H
#define SR_NORMALIZE_H

#include <stddef.h>
#include "sr.h"
#include "util.h"

/* Steps, applied in this order. */
enum sr_norm_flag {
	/* Unicode NFKC, with default-ignorable code points (zero-width space,
	 * soft hyphen, variation selectors) removed. */
	SR_NORM_NFKC = 1,
	/* Unicode full case folding ("Straße" and "STRASSE" both become
	 * "strasse"). Without SR_NORM_NFKC the text is put in NFC. */
	SR_NORM_CASEFOLD = 2,
	/* Punctuation (Unicode general category P*) is removed: "don't" and
	 * "dont", "U.S." and "US", "Sure, here" and "Sure here" compare equal.
	 * Symbols (S*) such as $ + < = > stay. */
	SR_NORM_PUNCT = 4,
	/* Runs of white space become one U+0020, leading and trailing white
	 * space is removed. */
	SR_NORM_SPACE = 8,
	SR_NORM_ALL = 15,
};

/* Parse a comma-separated list of step names ("nfkc", "case", "punct",
 * "space"), or "all" or "none", into flags. Returns 0 or SR_EUSAGE with the
 * unknown name in err. */
int sr_norm_parse(const char *list, unsigned *flags, struct sr_error *err);

/* Write the step names of flags as a comma-separated list ("none" for 0)
 * into buf. */
void sr_norm_format(unsigned flags, char *buf, size_t cap);

/* Normalise len bytes of UTF-8 text into out (reset first). Code point
 * U+001F, the unit separator that joins several key values, passes
 * through every step, and white space folding trims the text on both of
 * its sides. A value that starts with U+001E (such as a number, whose
 * minus sign and decimal point are punctuation) is copied unchanged.
 * Returns 0, SR_EDATA for invalid UTF-8, or SR_ENOMEM. */
int sr_normalize(const char *text, size_t len, unsigned flags, struct sr_buf *out,
                 struct sr_error *err);

/* Return 1 when at least half of the letters of the UTF-8 text belong to
 * scripts written without spaces between words (Han, Hiragana, Katakana,
 * Thai, Lao, Khmer, Myanmar, Tibetan), else 0. Invalid bytes are skipped. */
int sr_text_is_unspaced(const char *text, size_t len);

#endif
