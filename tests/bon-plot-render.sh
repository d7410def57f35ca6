#!/bin/sh
# Render sr-bon's SVG in headless Chromium and check the picture: the real
# past- and future-tense attack logs of one model, one report each, drawn
# side by side with --compare. The screenshot must have the SVG's size, show
# each attack's colour, and place the past-tense line above the future-tense
# one in the left panel, as the data say.
set -eu
chromium=/usr/bin/chromium
if [ ! -x "$chromium" ]; then
	echo "skip: $chromium not installed" >&2
	exit 77
fi
data="${SR_SHARED:-}/data/llm_past_tense/jailbreak_artifacts"
[ -d "$data" ] || { echo "skip: $data not found" >&2; exit 77; }
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for m in gpt-3.5-turbo llama3-8b; do
	{ sr-bon convert "$data/past_tense/$m.json"; sr-bon convert "$data/future_tense/$m.json"; } |
		sr-bon score --aggregate any-unsafe --ordered --label "$m" --seed 1 >"$tmp/$m.json"
done
sr-bon plot --compare -o "$tmp/plot.svg" "$tmp/gpt-3.5-turbo.json" "$tmp/llama3-8b.json"

# Well-formed XML with the size the screenshot is taken at.
size=$("$py" -c 'import sys, xml.etree.ElementTree as E
r = E.parse(sys.argv[1]).getroot()
print(r.get("width") + "," + r.get("height"))' "$tmp/plot.svg")

# Chromium writes its own diagnostics (D-Bus, GPU) to stderr; keep them
# out of the test log unless the screenshot fails.
if ! timeout 120 "$chromium" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
	--disable-background-networking --disable-component-update --disable-sync \
	--user-data-dir="$tmp/profile" --hide-scrollbars --window-size="$size" \
	--screenshot="$tmp/plot.png" "file://$tmp/plot.svg" >"$tmp/chromium.log" 2>&1; then
	cat "$tmp/chromium.log"
	echo "FAIL: chromium could not render the plot"
	exit 1
fi

"$py" - "$tmp/plot.png" "$size" <<'PY'
import struct, sys, zlib

def read_png(path):
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, "unexpected PNG format %r" % (header,)
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1: line[i] = (line[i] + a) & 255
            elif f == 2: line[i] = (line[i] + b) & 255
            elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line)
        prev = line
    return width, height, bpp, rows

width, height, bpp, rows = read_png(sys.argv[1])
want_w, want_h = (int(v) for v in sys.argv[2].split(","))
bad = []
if (width, height) != (want_w, want_h):
    bad.append("screenshot is %dx%d, the SVG %dx%d" % (width, height, want_w, want_h))

def pixels_near(rgb, x0, x1):
    found = []
    for y, line in enumerate(rows):
        for x in range(x0, min(x1, width)):
            r, g, b = line[x * bpp:x * bpp + 3]
            if abs(r - rgb[0]) + abs(g - rgb[1]) + abs(b - rgb[2]) < 30:
                found.append(y)
    return found

green, orange, blue = (0x2c, 0xa0, 0x2c), (0xff, 0x7f, 0x0e), (0x1f, 0x77, 0xb4)
left = (0, 420)  # the first panel
past = pixels_near(green, *left)
future = pixels_near(orange, *left)
overall = pixels_near(blue, *left)
for name, px in (("past_tense", past), ("future_tense", future), ("all attacks", overall)):
    if len(px) < 200:
        bad.append("only %d pixels of the %s colour in the left panel" % (len(px), name))
if past and future and not sum(past) / len(past) < sum(future) / len(future):
    bad.append("past-tense line is not above the future-tense line")
dark = sum(1 for line in rows for x in range(width) if sum(line[x * bpp:x * bpp + 3]) < 200)
if dark < 500:
    bad.append("only %d dark pixels: axes and text missing" % dark)
if bad:
    print("FAIL: " + "; ".join(bad))
    sys.exit(1)
print("ok: %dx%d, %d past-tense, %d future-tense, %d dark pixels" % (width, height, len(past), len(future), dark))
PY
