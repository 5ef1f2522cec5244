"""ICC colour profiles made offline, for photos that carry one (nothing is downloaded)."""

import itertools
import struct

from PIL import Image, ImageCms

# ICC's white (D50), which the profiles' colours are adapted to.
D50 = (0.9642, 1.0, 0.8249)
# Display P3's primaries (what recent iPhones shoot in), adapted to D50 as in Apple's own profile.
DISPLAY_P3_COLORANTS = {b"rXYZ": (0.515121, 0.241196, -0.001053),
                        b"gXYZ": (0.291977, 0.692245, 0.041885),
                        b"bXYZ": (0.157104, 0.066574, 0.784073)}


def _s15fixed16(*values):
    return struct.pack(f">{len(values)}i", *(round(value * 65536) for value in values))


def display_p3():
    """Display P3: sRGB's own profile with P3's primaries put in (its white and tone curve are
    sRGB's, so a grey is the same in both)."""
    data = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    (tags,) = struct.unpack_from(">I", data, 128)
    for entry in range(132, 132 + 12 * tags, 12):
        signature, offset, _size = struct.unpack_from(">4sII", data, entry)
        if signature in DISPLAY_P3_COLORANTS:  # an XYZ tag: 8 bytes of header, then X, Y, Z
            data[offset + 8:offset + 20] = _s15fixed16(*DISPLAY_P3_COLORANTS[signature])
    return bytes(data)


def cmyk_press(red):
    """A printer's CMYK profile (ICC v2, one lut8 table): inks as the naive formula has them,
    except magenta and yellow, which print `red` (an sRGB colour), as on a real press."""
    corners = list(itertools.product((0, 1), repeat=4))  # C, M, Y, K; the first varies slowest
    colours = [red if ink == (0, 1, 1, 0) else
               tuple(round(255 * (1 - amount) * (1 - ink[3])) for amount in ink[:3])
               for ink in corners]
    swatch = Image.new("RGB", (len(colours), 1))
    swatch.putdata(colours)
    lab = ImageCms.profileToProfile(swatch, ImageCms.createProfile("sRGB"),
                                    ImageCms.createProfile("LAB"), outputMode="LAB")
    # Pillow's Lab pixels are PCS Lab's 8-bit encoding (L 0-255 for 0-100, a and b offset by 128).
    clut = bytes(value for x in range(len(colours)) for value in lab.getpixel((x, 0)))
    # lut8: 4 inks in, 3 Lab values out, a grid of 2 points a side (the 16 corners), an identity
    # matrix, and curves in and out that change nothing.
    ramp = bytes(range(256))
    a2b0 = (b"mft1" + bytes(4) + bytes((4, 3, 2, 0)) + _s15fixed16(1, 0, 0, 0, 1, 0, 0, 0, 1)
            + ramp * 4 + clut + ramp * 3)
    tags = [(b"wtpt", b"XYZ " + bytes(4) + _s15fixed16(*D50)),
            (b"A2B0", a2b0 + bytes(-len(a2b0) % 4))]
    offset = 128 + 4 + 12 * len(tags)
    table, body = struct.pack(">I", len(tags)), b""
    for signature, data in tags:
        table += struct.pack(">4sII", signature, offset + len(body), len(data))
        body += data
    # Size, CMM, version 2.1, class, colour space, PCS; date; signature; platform to intent (0:
    # perceptual); illuminant; creator, id and reserved.
    header = (struct.pack(">I4sI4s4s4s", offset + len(body), b"lcms", 0x02100000, b"prtr",
                          b"CMYK", b"Lab ")
              + bytes(12) + b"acsp" + bytes(28) + _s15fixed16(*D50) + bytes(48))
    return header + table + body
