/*
 * svg.c - the line-chart writer of svg.h. Coordinates are written with two
 * decimals in the C locale's number format; the output depends only on the
 * input, so the same chart gives the same bytes.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "svg.h"

/* Geometry in SVG user units (pixels). */
enum {
	PANEL_W = 420, PANEL_H = 320,
	MARGIN_L = 64, MARGIN_R = 16, MARGIN_T = 36, MARGIN_B = 52,
	TITLE_H = 34, LEGEND_W = 220, LEGEND_ROW = 20,
};

/* Ten colours that stay apart for the common kinds of colour blindness
 * (the qualitative "tab10" set). */
static const char *const palette[] = {
	"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
	"#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
};

int sr_svg_escape(struct sr_buf *out, const char *s)
{
	int rc = 0;
	for (; *s && rc == 0; s++) {
		unsigned char ch = (unsigned char)*s;
		switch (ch) {
		case '&': rc = sr_buf_puts(out, "&amp;"); break;
		case '<': rc = sr_buf_puts(out, "&lt;"); break;
		case '>': rc = sr_buf_puts(out, "&gt;"); break;
		case '"': rc = sr_buf_puts(out, "&quot;"); break;
		case '\'': rc = sr_buf_puts(out, "&#39;"); break;
		default:
			if (ch >= 0x20 || ch == '\t' || ch == '\n')
				rc = sr_buf_append(out, s, 1);
		}
	}
	return rc < 0 ? SR_ENOMEM : 0;
}

struct axis {
	double lo, hi;   /* data range after the log transform */
	double px0, px1; /* pixel range */
	int log2;
};

static double axis_map(const struct axis *a, double v)
{
	if (a->log2)
		v = log2(v);
	return a->px0 + (v - a->lo) / (a->hi - a->lo) * (a->px1 - a->px0);
}

/* Series names in order of first appearance; *colour of each series. */
struct legend {
	const char *name[SR_SVG_MAX_SERIES];
	int dashed[SR_SVG_MAX_SERIES];
	size_t n;
};

static int legend_index(struct legend *l, const struct sr_svg_series *s)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->name[i], s->name) == 0)
			return (int)i;
	if (l->n == SR_SVG_MAX_SERIES)
		return -1;
	l->name[l->n] = s->name;
	l->dashed[l->n] = s->dashed;
	return (int)l->n++;
}

static int valid_point(const struct sr_svg_series *s, size_t i, int band)
{
	if (isnan(s->y[i]) || isnan(s->x[i]))
		return 0;
	return !band || (s->lo && s->hi && !isnan(s->lo[i]) && !isnan(s->hi[i]));
}

/* Interval band: one polygon per run of points that have bounds. */
static int draw_band(struct sr_buf *o, const struct sr_svg_series *s, const struct axis *ax,
                     const struct axis *ay, const char *colour)
{
	int rc = 0;
	size_t i = 0;
	while (i < s->n) {
		if (!valid_point(s, i, 1)) {
			i++;
			continue;
		}
		size_t j = i;
		while (j < s->n && valid_point(s, j, 1))
			j++;
		rc |= sr_buf_printf(o, "<polygon fill=\"%s\" fill-opacity=\"0.15\" stroke=\"none\" points=\"", colour);
		for (size_t t = i; t < j; t++)
			rc |= sr_buf_printf(o, "%.2f,%.2f ", axis_map(ax, s->x[t]), axis_map(ay, s->hi[t]));
		for (size_t t = j; t-- > i;)
			rc |= sr_buf_printf(o, "%.2f,%.2f ", axis_map(ax, s->x[t]), axis_map(ay, s->lo[t]));
		rc |= sr_buf_puts(o, "\"/>\n");
		i = j;
	}
	return rc ? SR_ENOMEM : 0;
}

static int draw_line(struct sr_buf *o, const struct sr_svg_series *s, const struct axis *ax,
                     const struct axis *ay, const char *colour)
{
	int rc = 0;
	size_t i = 0;
	while (i < s->n) {
		if (!valid_point(s, i, 0)) {
			i++;
			continue;
		}
		size_t j = i;
		while (j < s->n && valid_point(s, j, 0))
			j++;
		rc |= sr_buf_printf(o, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s points=\"",
		                    colour, s->dashed ? " stroke-dasharray=\"6 4\"" : "");
		for (size_t t = i; t < j; t++)
			rc |= sr_buf_printf(o, "%.2f,%.2f ", axis_map(ax, s->x[t]), axis_map(ay, s->y[t]));
		rc |= sr_buf_puts(o, "\"/>\n");
		i = j;
	}
	for (i = 0; i < s->n; i++)
		if (valid_point(s, i, 0))
			rc |= sr_buf_printf(o, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"3\" fill=\"%s\"/>\n",
			                    axis_map(ax, s->x[i]), axis_map(ay, s->y[i]), colour);
	return rc ? SR_ENOMEM : 0;
}

static int draw_text(struct sr_buf *o, double x, double y, const char *anchor, const char *extra,
                     const char *text)
{
	int rc = sr_buf_printf(o, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"%s\"%s>", x, y, anchor, extra);
	rc |= sr_svg_escape(o, text);
	rc |= sr_buf_puts(o, "</text>\n");
	return rc ? SR_ENOMEM : 0;
}

/* Axes, grid and tick labels of one panel whose plot area starts at (x0, y0). */
static int draw_axes(struct sr_buf *o, const struct sr_svg_chart *c, const struct axis *ax,
                     const struct axis *ay, double x0, double y0)
{
	double w = PANEL_W - MARGIN_L - MARGIN_R, h = PANEL_H - MARGIN_T - MARGIN_B;
	char label[64];
	int rc = 0;

	rc |= sr_buf_printf(o, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"none\" stroke=\"#444\"/>\n",
	                    x0, y0, w, h);
	/* y: five intervals */
	for (int t = 0; t <= 5; t++) {
		double v = c->ymin + (c->ymax - c->ymin) * t / 5.0;
		double py = axis_map(ay, v);
		rc |= sr_buf_printf(o, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#ddd\"/>\n",
		                    x0, py, x0 + w, py);
		snprintf(label, sizeof label, "%.2g", v);
		rc |= draw_text(o, x0 - 6, py + 4, "end", "", label);
	}
	/* x: powers of two on a log2 axis (thinned to at most 12), else 6 ticks */
	if (ax->log2) {
		int p0 = (int)ceil(ax->lo - 1e-9), p1 = (int)floor(ax->hi + 1e-9);
		int step = (p1 - p0) / 12 + 1;
		for (int p = p0; p <= p1; p += step) {
			double px = axis_map(ax, ldexp(1.0, p));
			rc |= sr_buf_printf(o, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#ddd\"/>\n",
			                    px, y0, px, y0 + h);
			snprintf(label, sizeof label, "%.0f", ldexp(1.0, p));
			rc |= draw_text(o, px, y0 + h + 16, "middle", "", label);
		}
		/* The largest x when it is not a power of two, e.g. k = 20. */
		double top = exp2(ax->hi);
		if (ax->hi - floor(ax->hi + 1e-9) > 0.2) {
			snprintf(label, sizeof label, "%.0f", top);
			rc |= draw_text(o, axis_map(ax, top), y0 + h + 16, "middle", "", label);
		}
	} else {
		for (int t = 0; t <= 5; t++) {
			double v = ax->lo + (ax->hi - ax->lo) * t / 5.0;
			double px = axis_map(ax, v);
			snprintf(label, sizeof label, "%.3g", v);
			rc |= draw_text(o, px, y0 + h + 16, "middle", "", label);
		}
	}
	if (c->xlabel)
		rc |= draw_text(o, x0 + w / 2, y0 + h + 38, "middle", "", c->xlabel);
	if (c->ylabel) {
		double lx = x0 - 46, ly = y0 + h / 2;
		char rot[96];
		snprintf(rot, sizeof rot, " transform=\"rotate(-90 %.2f %.2f)\"", lx, ly);
		rc |= draw_text(o, lx, ly, "middle", rot, c->ylabel);
	}
	return rc ? SR_ENOMEM : 0;
}

/* Range of the x values (log2 when asked) over all panels. */
static int x_range(const struct sr_svg_chart *c, struct axis *ax, struct sr_error *err)
{
	double lo = INFINITY, hi = -INFINITY;
	for (size_t p = 0; p < c->npanels; p++)
		for (size_t s = 0; s < c->panels[p].nseries; s++) {
			const struct sr_svg_series *se = &c->panels[p].series[s];
			for (size_t i = 0; i < se->n; i++) {
				double x = se->x[i];
				if (isnan(x))
					continue;
				if (c->log2x && x <= 0)
					return sr_fail(err, SR_EUSAGE, "x value %g cannot be drawn on a log2 axis", x);
				if (c->log2x)
					x = log2(x);
				lo = fmin(lo, x);
				hi = fmax(hi, x);
			}
		}
	if (lo > hi)
		lo = 0, hi = 1;
	if (hi - lo < 1e-12)
		lo -= 0.5, hi += 0.5;
	ax->lo = lo;
	ax->hi = hi;
	ax->log2 = c->log2x;
	return 0;
}

int sr_svg_line_chart(const struct sr_svg_chart *chart, struct sr_buf *o, struct sr_error *err)
{
	struct sr_svg_chart c = *chart;
	struct legend leg = { .n = 0 };
	struct axis ax = {0}, ay = {0};
	int rc;

	if (c.npanels == 0 || c.npanels > SR_SVG_MAX_PANELS)
		return sr_fail(err, SR_EUSAGE, "a chart needs 1 to %d panels, got %zu", SR_SVG_MAX_PANELS, c.npanels);
	for (size_t p = 0; p < c.npanels; p++)
		for (size_t s = 0; s < c.panels[p].nseries; s++)
			if (legend_index(&leg, &c.panels[p].series[s]) < 0)
				return sr_fail(err, SR_EUSAGE, "more than %d series names in one chart", SR_SVG_MAX_SERIES);
	if ((rc = x_range(&c, &ax, err)) < 0)
		return rc;
	if (!(c.ymax > c.ymin)) {
		c.ymin = 0;
		c.ymax = 1;
	}

	double top = c.title ? TITLE_H : 8;
	double legend_h = (double)leg.n * LEGEND_ROW + 16;
	double width = (double)c.npanels * PANEL_W + LEGEND_W;
	double height = top + fmax(PANEL_H, legend_h);
	rc = sr_buf_printf(o, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	                   "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%.0f\" height=\"%.0f\" "
	                   "viewBox=\"0 0 %.0f %.0f\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" font-size=\"12\">\n"
	                   "<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/>\n",
	                   width, height, width, height);
	if (c.title)
		rc |= draw_text(o, width / 2, 22, "middle", " font-size=\"16\" font-weight=\"bold\"", c.title);
	if (rc)
		return sr_fail(err, SR_ENOMEM, "out of memory");

	for (size_t p = 0; p < c.npanels; p++) {
		const struct sr_svg_panel *pn = &c.panels[p];
		double x0 = (double)p * PANEL_W + MARGIN_L, y0 = top + MARGIN_T;
		double w = PANEL_W - MARGIN_L - MARGIN_R, h = PANEL_H - MARGIN_T - MARGIN_B;
		ax.px0 = x0 + 8;
		ax.px1 = x0 + w - 8;
		ay = (struct axis){ c.ymin, c.ymax, y0 + h, y0, 0 };
		rc = sr_buf_printf(o, "<g>\n");
		if (pn->title)
			rc |= draw_text(o, x0 + w / 2, y0 - 12, "middle", " font-size=\"14\"", pn->title);
		if (rc || draw_axes(o, &c, &ax, &ay, x0, y0) < 0)
			return sr_fail(err, SR_ENOMEM, "out of memory");
		for (size_t s = 0; s < pn->nseries; s++) {
			const struct sr_svg_series *se = &pn->series[s];
			const char *colour = palette[legend_index(&leg, se) % (int)(sizeof palette / sizeof palette[0])];
			if (se->lo && se->hi && draw_band(o, se, &ax, &ay, colour) < 0)
				return sr_fail(err, SR_ENOMEM, "out of memory");
		}
		for (size_t s = 0; s < pn->nseries; s++) {
			const struct sr_svg_series *se = &pn->series[s];
			const char *colour = palette[legend_index(&leg, se) % (int)(sizeof palette / sizeof palette[0])];
			if (draw_line(o, se, &ax, &ay, colour) < 0)
				return sr_fail(err, SR_ENOMEM, "out of memory");
		}
		if (sr_buf_puts(o, "</g>\n") < 0)
			return sr_fail(err, SR_ENOMEM, "out of memory");
	}

	double lx = (double)c.npanels * PANEL_W + 8, ly = top + MARGIN_T;
	rc = 0;
	for (size_t i = 0; i < leg.n; i++) {
		const char *colour = palette[i % (sizeof palette / sizeof palette[0])];
		double y = ly + (double)i * LEGEND_ROW;
		rc |= sr_buf_printf(o, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\" stroke-width=\"2\"%s/>\n",
		                    lx, y, lx + 24, y, colour, leg.dashed[i] ? " stroke-dasharray=\"6 4\"" : "");
		rc |= draw_text(o, lx + 30, y + 4, "start", "", leg.name[i]);
	}
	rc |= sr_buf_puts(o, "</svg>\n");
	return rc ? sr_fail(err, SR_ENOMEM, "out of memory") : 0;
}
