/*
 * svg.h - a small SVG 1.1 line-chart writer: one or more panels side by
 * side sharing the y range, each with lines, markers and optional interval
 * bands, an x axis that may be log2, and one legend for all panels. A series
 * keeps its colour in every panel, matched by name.
 *
 * Ownership: everything passed in is borrowed; the SVG text is appended to
 * a caller-owned sr_buf.
 */
#ifndef SR_SVG_H
#define SR_SVG_H

#include <stddef.h>
#include "sr.h"
#include "util.h"

struct sr_svg_series {
	const char *name;       /* legend text */
	size_t n;               /* points */
	const double *x, *y;    /* [n]; a NAN y leaves a gap */
	const double *lo, *hi;  /* [n] interval bounds, or NULL for no band */
	int dashed;             /* draw a dashed line */
};

struct sr_svg_panel {
	const char *title;
	const struct sr_svg_series *series;
	size_t nseries;
};

struct sr_svg_chart {
	const char *title;       /* NULL = none */
	const char *xlabel, *ylabel;
	int log2x;               /* x axis in log2, ticks at powers of two */
	double ymin, ymax;       /* y range; ymin == ymax picks it from the data */
	const struct sr_svg_panel *panels;
	size_t npanels;
};

/* Most panels and distinct series names in one chart. */
#define SR_SVG_MAX_PANELS 16
#define SR_SVG_MAX_SERIES 64

/* Append the chart as a standalone SVG document to out. SR_EUSAGE when a
 * log2 axis gets an x <= 0 or the limits above are exceeded. */
int sr_svg_line_chart(const struct sr_svg_chart *c, struct sr_buf *out, struct sr_error *err);

/* Append s to out with &, <, >, " and ' escaped for XML text and
 * attributes; control characters other than tab and newline are dropped. */
int sr_svg_escape(struct sr_buf *out, const char *s);

#endif
