#!/usr/bin/env python3
"""Writes the odd-layout images in this directory and Pillow's expected crops for them.

Each image is written byte by byte here (TIFF, GIF and BMP writers of a few lines each), so
every tag, code size and padding byte is exactly what the case needs. The expected crop of an
image is what the reference does to it:

    Image.open(path) -> Resize(size, BICUBIC) -> CenterCrop(size) -> convert('RGB')

saved as <image>.<size>.png. manifest.json lists every image with its Pillow mode and crops, or
the failure Vista must report for it; tests/image_pillow_odd_test.cpp reads it.

Which Pillow computes the crops (each manifest entry names it as "reference"):
  - "9.4": Debian 12's Pillow 9.4 gives the same crop as Pillow 12.2 (checked with --check
    under both): TIFF orientations 2-4, RGBA without ExtraSamples, GIF code sizes 9 and 11,
    BMPs without their last padding, signed 16/32-bit and float TIFFs;
  - "12.2": Pillow 9.4 differs, so the crop is written only when the running Pillow is 12.2 or
    newer (otherwise the committed crop is kept): orientations 5-8 (9.4 reports the unrotated
    size before load, so the resize distorts the picture), I;16 orientation (9.4 cannot
    transpose I;16), YCbCr orientation (9.4 lets libtiff flip as well, then flips again),
    palette + unspecified extra sample (9.4 cannot open it).

Usage:
    python3 make_fixtures.py            # rewrite images (+ crops the running Pillow may make)
    python3 make_fixtures.py --check    # compare the running Pillow with the committed crops
"""

import io
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile

from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))


def pillow_version():
    return tuple(int(p) for p in Image.__version__.split(".")[:2])


# ------------------------------------------------------------------------------------ TIFF

SHORT, LONG, RATIONAL = 3, 4, 5


def tiff_bytes(width, height, pixels, tags, big_endian=False, rows_per_strip=None):
    """Uncompressed strips; `tags` maps tag -> (type, [values]). Size and strip tags added."""
    e = ">" if big_endian else "<"
    rows_per_strip = rows_per_strip or height
    row_bytes = len(pixels) // height
    strips = [pixels[y * row_bytes:(y + rows_per_strip) * row_bytes]
              for y in range(0, height, rows_per_strip)]
    tags = dict(tags)
    tags[256] = (LONG, [width])
    tags[257] = (LONG, [height])
    tags[278] = (LONG, [rows_per_strip])
    tags[279] = (LONG, [len(s) for s in strips])
    tags.setdefault(259, (SHORT, [1]))
    data_offset = 8
    tags[273] = (LONG, [data_offset + row_bytes * rows_per_strip * i for i in range(len(strips))])
    ifd_offset = data_offset + len(pixels) + (len(pixels) & 1)
    entries = sorted(tags.items())
    extra_offset = ifd_offset + 2 + 12 * len(entries) + 4
    ifd = struct.pack(e + "H", len(entries))
    extra = b""
    for tag, (typ, values) in entries:
        fmt = {SHORT: "H", LONG: "I"}.get(typ)
        if typ == RATIONAL:
            payload = b"".join(struct.pack(e + "II", n, d) for n, d in values)
        else:
            payload = b"".join(struct.pack(e + fmt, v) for v in values)
        if len(payload) <= 4:
            ifd += struct.pack(e + "HHI", tag, typ, len(values)) + payload.ljust(4, b"\0")
        else:
            ifd += struct.pack(e + "HHII", tag, typ, len(values), extra_offset + len(extra))
            extra += payload + (b"\0" if len(payload) & 1 else b"")
    ifd += struct.pack(e + "I", 0)
    header = (b"MM\x00\x2a" if big_endian else b"II\x2a\x00") + struct.pack(e + "I", ifd_offset)
    return header + pixels + (b"\0" if len(pixels) & 1 else b"") + ifd + extra


def tiffcp(data, *options):
    """Rewrites a TIFF with libtiff's tiffcp (libtiff-tools), e.g. to compress it."""
    if not shutil.which("tiffcp"):
        sys.exit("tiffcp not found: apt-get install libtiff-tools")
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = os.path.join(tmp, "in.tif"), os.path.join(tmp, "out.tif")
        with open(src, "wb") as f:
            f.write(data)
        subprocess.run(["tiffcp", *options, src, dst], check=True)
        with open(dst, "rb") as f:
            return f.read()


def tiff_tags(photometric, bits, samples=1, sample_format=None, extra=None, orientation=None,
              colormap=None):
    tags = {258: (SHORT, list(bits) if isinstance(bits, (list, tuple)) else [bits] * samples),
            277: (SHORT, [samples])}
    if photometric is not None:
        tags[262] = (SHORT, [photometric])
    if sample_format is not None:
        tags[339] = (SHORT, [sample_format] * samples)
    if extra is not None:
        tags[338] = (SHORT, list(extra))
    if orientation is not None:
        tags[274] = (SHORT, [orientation])
    if colormap is not None:
        tags[320] = (SHORT, colormap)
    return tags


def pack_bits(rows):
    """1-bit rows (lists of 0/1) to bytes, each row padded to a byte."""
    out = bytearray()
    for row in rows:
        for x in range(0, len(row), 8):
            byte = 0
            for i, bit in enumerate(row[x:x + 8]):
                byte |= bit << (7 - i)
            out.append(byte)
    return bytes(out)


# ------------------------------------------------------------------------------------- GIF

def lzw_encode(indices, min_code_size):
    """GIF LZW with the given minimum code size; codes never grow past 12 bits."""
    clear = 1 << min_code_size
    end = clear + 1
    code_size = min_code_size + 1
    table = {}
    next_code = end + 1
    out = []  # (code, width)

    def reset():
        nonlocal table, next_code, code_size
        table = {(i,): i for i in range(clear)}
        next_code = end + 1
        code_size = min_code_size + 1

    reset()
    out.append((clear, code_size))
    prefix = ()
    for value in indices:
        candidate = prefix + (value,)
        if candidate in table:
            prefix = candidate
            continue
        out.append((table[prefix], code_size))
        if next_code < 4096:
            # The decoder adds each entry one code later and widens after adding
            # (1 << size) - 1, so the encoder widens after adding 1 << size.
            table[candidate] = next_code
            if next_code == (1 << code_size) and code_size < 12:
                code_size += 1
            next_code += 1
        prefix = (value,)
    if prefix:
        out.append((table[prefix], code_size))
    out.append((end, code_size))
    bits = 0
    nbits = 0
    data = bytearray()
    for code, width in out:
        bits |= code << nbits
        nbits += width
        while nbits >= 8:
            data.append(bits & 0xFF)
            bits >>= 8
            nbits -= 8
    if nbits:
        data.append(bits & 0xFF)
    blocks = bytearray()
    for i in range(0, len(data), 255):
        chunk = data[i:i + 255]
        blocks += bytes([len(chunk)]) + chunk
    return bytes(blocks) + b"\0"


def gif_bytes(width, height, palette, indices, min_code_size, interlace=False):
    head = b"GIF89a" + struct.pack("<HHBBB", width, height, 0xF7, 0, 0)
    head += bytes(palette)
    order = list(range(height))
    if interlace:
        order = (list(range(0, height, 8)) + list(range(4, height, 8)) +
                 list(range(2, height, 4)) + list(range(1, height, 2)))
    stream = [v for y in order for v in indices[y * width:(y + 1) * width]]
    desc = b"," + struct.pack("<HHHHB", 0, 0, width, height, 0x40 if interlace else 0)
    return head + desc + bytes([min_code_size]) + lzw_encode(stream, min_code_size) + b";"


# ------------------------------------------------------------------------------------- BMP

def bmp_bytes(width, height, bits, palette, rows):
    """Bottom-up BI_RGB BMP; `rows` are top-first lists of indices (or BGR triples for 24)."""
    stride = ((width * bits + 31) >> 3) & ~3
    pixel_data = bytearray()
    for row in reversed(rows):
        if bits == 24:
            line = bytes(c for px in row for c in px)
        elif bits == 8:
            line = bytes(row)
        else:
            per_byte = 8 // bits
            line = bytearray()
            for x in range(0, width, per_byte):
                byte = 0
                for i, v in enumerate(row[x:x + per_byte]):
                    byte |= v << (8 - bits * (i + 1))
                line.append(byte)
        pixel_data += bytes(line).ljust(stride, b"\0")
    colors = len(palette)
    table = b"".join(bytes([b, g, r, 0]) for r, g, b in palette)
    offset = 14 + 40 + len(table)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, bits, 0, len(pixel_data), 2835, 2835,
                       colors, 0)
    head = b"BM" + struct.pack("<IHHI", offset + len(pixel_data), 0, 0, offset)
    return head + info + table + bytes(pixel_data)


# ------------------------------------------------------------------------------ the images

def gradient(width, height, channels, seed):
    rng = random.Random(seed)
    out = bytearray()
    for y in range(height):
        for x in range(width):
            for c in range(channels):
                v = (x * 255 // max(1, width - 1) * (c + 1) + y * 97 // max(1, height - 1) * (2 - c % 2)
                     + rng.randrange(40)) % 256
                out.append(v)
    return bytes(out)


def orientation_rows(width, height, seed):
    """An asymmetric 1-bit picture: an L-shaped bar plus noise, so every flip shows."""
    rng = random.Random(seed)
    rows = []
    for y in range(height):
        row = []
        for x in range(width):
            bar = x == 1 or y == height - 2 or (x < 4 and y < 2)
            row.append(1 if bar or rng.random() < 0.2 else 0)
        rows.append(row)
    return rows


def palette256(seed):
    rng = random.Random(seed)
    return [(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(256)]


def build_images():
    """Returns [(name, bytes, entry)] where entry is the manifest record without crops."""
    images = []

    def add(name, data, item, crops=(224,), reference="9.4", error=None, message=None, note="",
            from_bytes=False):
        entry = {"file": name, "item": item, "note": note}
        if from_bytes:
            entry["pillow_reads_bytes"] = True
        if error:
            entry["error"] = error
            if message:
                entry["message_contains"] = message
        else:
            entry["sizes"] = list(crops)
            entry["reference"] = reference
        images.append((name, data, entry))

    # Item 1: Orientation (tag 274), applied at load; 5-8 swap width and height.
    w, h = 13, 7
    bits = pack_bits(orientation_rows(w, h, 1))
    for o in range(1, 9):
        add(f"orient_bilevel_{o}.tif", tiff_bytes(w, h, bits, tiff_tags(1, 1, orientation=o)), 1,
            reference="12.2" if o >= 5 else "9.4", note=f"mode 1, orientation {o}")
    rgb = gradient(11, 7, 3, 2)
    add("orient_rgb_6.tif", tiff_bytes(11, 7, rgb, tiff_tags(2, 8, 3, orientation=6)), 1,
        reference="12.2", crops=(224, 5), note="RGB, orientation 6 (rotate 270)")
    gray = gradient(10, 6, 1, 3)
    # Two strips: Pillow memory-maps single-strip uncompressed L/P/RGBA/CMYK/I;16 files opened
    # by path, and for orientations 5-8 that path maps the raster with the rotated size and
    # then fails in resize ("box can't exceed original image size"); see the next case.
    add("orient_gray_5.tif", tiff_bytes(10, 6, gray, tiff_tags(1, 8, orientation=5),
                                        rows_per_strip=3), 1,
        reference="12.2", crops=(224, 4), note="L, orientation 5 (transpose)")
    add("orient_gray_6_single_strip.tif", tiff_bytes(10, 6, gray, tiff_tags(1, 8, orientation=6)),
        1, reference="12.2", crops=(224, 4), from_bytes=True,
        note="L, orientation 6, one strip: Pillow 12.2 opened by path fails in resize (its "
             "memory-mapped read ignores the rotation); Vista rotates, as Pillow does when it "
             "reads the same bytes from a file object")
    rgba = bytearray(gradient(9, 6, 4, 4))
    add("orient_rgba_7.tif",
        tiff_bytes(9, 6, bytes(rgba), tiff_tags(2, 8, 4, extra=[2], orientation=7),
                   rows_per_strip=4), 1,
        reference="12.2", crops=(224, 4), note="RGBA, orientation 7 (transverse)")
    i16 = b"".join(struct.pack("<H", (x * 700 + y * 40) % 400) for y in range(6) for x in range(9))
    add("orient_i16_8.tif", tiff_bytes(9, 6, i16, tiff_tags(1, 16, orientation=8),
                                       rows_per_strip=5), 1,
        reference="12.2", crops=(6,), note="I;16, orientation 8; crop size 6 needs no resize (9.4's 16-bit "
                         "resize differs from 12.x)")

    # YCbCr without JPEG goes through libtiff's RGBA interface in Pillow, told to ignore the
    # file's orientation; the rotation is then applied like for every other layout.
    ycc = gradient(10, 7, 3, 8)
    for o in (3, 6):
        tags = tiff_tags(6, 8, 3, orientation=o)
        tags[530] = (SHORT, [1, 1])  # YCbCrSubSampling: none
        add(f"orient_ycbcr_lzw_{o}.tif", tiffcp(tiff_bytes(10, 7, ycc, tags), "-c", "lzw"), 1,
            reference="12.2", crops=(224, 5), note=f"YCbCr, LZW, orientation {o}")

    # Item 2: four 8-bit RGB samples and no ExtraSamples tag -> RGBA.
    rgba = bytearray(gradient(17, 11, 4, 5))
    for i in range(3, len(rgba), 4):
        rgba[i] = (0, 255, 40, 128, 200)[(i // 4) % 5]
    add("rgba_no_extrasamples.tif", tiff_bytes(17, 11, bytes(rgba), tiff_tags(2, 8, 4)), 2,
        crops=(224, 6), note="RGB photometric, 4x8-bit, no ExtraSamples: RGBA")
    add("rgba_no_extrasamples_be.tif",
        tiff_bytes(17, 11, bytes(rgba), tiff_tags(2, 8, 4), big_endian=True), 2,
        crops=(224, 6), note="the same, big-endian")
    add("rgbx_extrasamples_0.tif", tiff_bytes(17, 11, bytes(rgba), tiff_tags(2, 8, 4, extra=[0])),
        2, crops=(224, 6), note="ExtraSamples = 0 (unspecified): RGB, the fourth sample ignored")

    # Item 3: GIF with LZW minimum code size 11 (and 9, interlaced).
    pal = palette256(6)
    flat_pal = [c for rgb in pal for c in rgb]
    idx = [((x // 3) * 7 + y * 11) % 256 for y in range(9) for x in range(15)]
    add("lzw_code_size_11.gif", gif_bytes(15, 9, flat_pal, idx, 11), 3, crops=(224, 4),
        note="minimum code size 11")
    idx = [(x * 5 + (y // 2) * 3) % 256 for y in range(10) for x in range(14)]
    add("lzw_code_size_9_interlaced.gif", gif_bytes(14, 10, flat_pal, idx, 9, interlace=True), 3,
        crops=(224, 5), note="minimum code size 9, interlaced")
    rng = random.Random(9)
    idx = [rng.randrange(256) if rng.random() < 0.7 else 0 for _ in range(80 * 60)]
    add("lzw_code_size_9_full_table.gif", gif_bytes(80, 60, flat_pal, idx, 9), 3, crops=(224, 7),
        note="minimum code size 9: codes widen to 12 bits and the table fills up")
    idx = [300 + x if x % 4 == 0 else x for x in range(12)] * 8
    add("lzw_code_size_11_wide_literals.gif", gif_bytes(12, 8, flat_pal, idx, 11), 3,
        note="literal codes above 255 keep their low byte, as Pillow's decoder stores them")

    # Item 4: BMP whose last row lacks its padding.
    rows8 = [[(x * 9 + y * 31) % 256 for x in range(13)] for y in range(7)]
    full = bmp_bytes(13, 7, 8, pal, rows8)
    add("pal8_full.bmp", full, 4, note="8-bit palette, 13 wide: 3 padding bytes per row")
    add("pal8_last_padding_short_1.bmp", full[:-1], 4, note="one padding byte missing")
    add("pal8_last_padding_short_3.bmp", full[:-3], 4, note="all of the last row's padding missing")
    add("pal8_pixel_data_short.bmp", full[:-4], 4, error="corruption",
        message="truncated", note="a pixel of the last row missing: Pillow refuses")
    pal16 = pal[:16]
    rows4 = [[(x + y * 3) % 16 for x in range(13)] for y in range(7)]
    full4 = bmp_bytes(13, 7, 4, pal16, rows4)  # 7 bytes per row, 1 padding byte
    add("pal4_last_padding_short_1.bmp", full4[:-1], 4, note="4-bit palette, padding byte missing")
    rows1 = [[(x * y + x) % 3 == 0 and 1 or 0 for x in range(13)] for y in range(7)]
    full1 = bmp_bytes(13, 7, 1, [(200, 30, 40), (10, 220, 90)], rows1)
    add("pal1_last_padding_short_2.bmp", full1[:-2], 4,
        note="1-bit palette (not gray), both padding bytes missing")
    rows24 = [[((x * 20) % 256, (y * 40) % 256, (x * y * 7) % 256) for x in range(5)]
              for y in range(4)]
    full24 = bmp_bytes(5, 4, 24, [], rows24)  # 15 bytes per row, 1 padding byte
    add("rgb24_last_padding_short_1.bmp", full24[:-1], 4, note="24-bit, padding byte missing")

    # Item 5: TIFF layouts beyond Pillow's 8-bit modes.
    lab = gradient(8, 5, 3, 7)
    add("lab.tif", tiff_bytes(8, 5, lab, tiff_tags(8, 8, 3)), 5, error="unsupported",
        message="L*a*b*", note="CIE L*a*b*: refused (Pillow converts through LittleCMS)")
    vals = [(x * 157 + y * 61) % 700 - 200 for y in range(7) for x in range(11)]
    vals[5] = -32768
    vals[17] = 32767
    i16s = b"".join(struct.pack("<h", v) for v in vals)
    add("int16_signed.tif", tiff_bytes(11, 7, i16s, tiff_tags(1, 16, sample_format=2)), 5,
        crops=(224, 5), note="I;16S: mode I")
    add("int16_signed_be.tif",
        tiff_bytes(11, 7, b"".join(struct.pack(">h", v) for v in vals),
                   tiff_tags(1, 16, sample_format=2), big_endian=True), 5,
        crops=(224, 5), note="I;16BS: mode I")
    vals32 = [(x * 90001 + y * 70003) % 400000 - 150000 for y in range(7) for x in range(11)]
    vals32[3] = 77
    vals32[4] = 200
    i32s = b"".join(struct.pack("<i", v) for v in vals32)
    add("int32_signed.tif", tiff_bytes(11, 7, i32s, tiff_tags(1, 32, sample_format=2)), 5,
        crops=(224, 5), note="I;32S: mode I")
    fvals = [((x * 37.25 + y * 19.5) % 330.0) - 40.0 for y in range(7) for x in range(11)]
    f32 = b"".join(struct.pack("<f", v) for v in fvals)
    add("float32.tif", tiff_bytes(11, 7, f32, tiff_tags(1, 32, sample_format=3)), 5,
        crops=(224, 5), note="F")
    add("float32_no_photometric.tif",
        tiff_bytes(11, 7, f32, tiff_tags(None, 32, sample_format=3)), 5,
        crops=(224, 5), note="F without PhotometricInterpretation")
    add("float32_be.tif",
        tiff_bytes(11, 7, b"".join(struct.pack(">f", v) for v in fvals),
                   tiff_tags(1, 32, sample_format=3), big_endian=True), 5,
        crops=(224, 5), note="F;32BF")
    colormap = ([r * 257 for r, _, _ in pal] + [g * 257 for _, g, _ in pal] +
                [b * 257 for _, _, b in pal])
    pa = bytearray()
    for y in range(7):
        for x in range(11):
            pa += bytes([(x * 23 + y * 5) % 256, (x * 40 + y * 90) % 256])
    add("palette_alpha.tif",
        tiff_bytes(11, 7, bytes(pa), tiff_tags(3, 8, 2, extra=[2], colormap=colormap)), 5,
        error="unsupported", message="palette + alpha",
        note="PA: refused (Pillow's bicubic resize of PA drops the palette: the crop is black)")
    pidx = bytearray()
    for y in range(7):
        for x in range(11):
            pidx += bytes([(x * 23 + y * 5) % 256, 77])
    add("palette_extra_unspecified.tif",
        tiff_bytes(11, 7, bytes(pidx), tiff_tags(3, 8, 2, extra=[0], colormap=colormap)), 5,
        crops=(224, 5), reference="12.2", note="palette + an unspecified extra sample: P, the extra ignored")
    return images


def crop(path, size, from_bytes=False):
    """The reference's Resize + CenterCrop + convert('RGB'), as torchvision does it on PIL."""
    if from_bytes:
        with open(path, "rb") as f:
            im = Image.open(io.BytesIO(f.read()))
    else:
        im = Image.open(path)
    w, h = im.size
    short, long = (w, h) if w <= h else (h, w)
    new_long = int(size * long / short)
    new_w, new_h = (size, new_long) if w <= h else (new_long, size)
    im = im.resize((new_w, new_h), Image.BICUBIC)
    top = int(round((new_h - size) / 2.0))
    left = int(round((new_w - size) / 2.0))
    im = im.crop((left, top, left + size, top + size))
    return im.convert("RGB"), im.mode


def main():
    check = "--check" in sys.argv
    version = pillow_version()
    manifest = []
    mismatches = 0
    committed = {}
    if os.path.exists(os.path.join(HERE, "manifest.json")):
        with open(os.path.join(HERE, "manifest.json")) as f:
            committed = {e["file"]: e for e in json.load(f)}
    for name, data, entry in build_images():
        path = os.path.join(HERE, name)
        if check:
            with open(path, "rb") as f:
                if f.read() != data:
                    print(f"{name}: committed image differs from the generator")
                    mismatches += 1
        else:
            with open(path, "wb") as f:
                f.write(data)
        if "error" in entry:
            try:
                rgb, mode = crop(path, 224)
                print(f"{name}: Pillow {Image.__version__} opens it as {mode}, crop extrema "
                      f"{rgb.getextrema()} (Vista refuses it)")
            except Exception as e:  # noqa: BLE001 - any Pillow failure is the point
                print(f"{name}: Pillow {Image.__version__} fails too: {type(e).__name__}: {e}")
            manifest.append(entry)
            continue
        is_reference = version >= (12, 2)
        may_write = not check and (entry["reference"] == "9.4" or is_reference)
        # The mode is the reference Pillow's (an older one may name it differently).
        committed_mode = committed.get(name, {}).get("mode")
        entry["crops"] = {}
        for size in entry["sizes"]:
            out = f"{name}.{size}.png"
            entry["crops"][str(size)] = out
            out_path = os.path.join(HERE, out)
            try:
                rgb, mode = crop(path, size, entry.get("pillow_reads_bytes", False))
            except Exception as e:  # noqa: BLE001
                print(f"{name}: Pillow {Image.__version__} fails: {e}")
                mismatches += 1
                continue
            if committed_mode and mode != committed_mode:
                print(f"{name}: Pillow {Image.__version__} opens it as {mode}, "
                      f"the reference as {committed_mode}")
            if may_write:
                rgb.save(out_path, optimize=True)
            elif not os.path.exists(out_path):
                print(f"{out}: missing")
                mismatches += 1
            elif Image.open(out_path).convert("RGB").tobytes() != rgb.tobytes():
                print(f"{out}: Pillow {Image.__version__} gives a different crop")
                mismatches += 1
        entry["mode"] = mode if is_reference or not committed_mode else committed_mode
        manifest.append(entry)
    if not check:
        with open(os.path.join(HERE, "manifest.json"), "w") as f:
            json.dump(manifest, f, indent=1)
            f.write("\n")
    print(f"Pillow {Image.__version__}: {mismatches} mismatch(es)")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
