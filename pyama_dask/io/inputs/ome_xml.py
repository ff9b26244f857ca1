"""The few facts of an OME-XML document that a run needs, read with the standard library.

bioio reads an OME-TIFF's metadata through ome-types, which imports and
validates against the whole OME schema (over a second, most of ``pyama-dask
info`` and of a run's start). :func:`parse_ome_images` reads only the
images' IDs, channels, sizes, pixel size and time stamps, into objects with
ome-types' attribute names and defaults (a ``DeltaT`` or ``TimeIncrement``
without a unit is in seconds), so that
:func:`~pyama_dask.io.inputs.timestamps.ome_deltat_minutes` and
:func:`~pyama_dask.io.inputs.timestamps.ome_time_increment_minutes` take
them as they take ome-types' ``OME``. Only the 2016-06 schema is read, the
one tifffile and Bio-Formats write; for another, None.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.etree import ElementTree

#: The OME schema read here.
OME_NAMESPACE = "http://www.openmicroscopy.org/Schemas/OME/2016-06"
_NS = {"ome": OME_NAMESPACE}
# ome-types' default unit of DeltaT and TimeIncrement.
_DEFAULT_TIME_UNIT = "s"


@dataclass(frozen=True)
class OmeUnit:
    """A unit as ome-types gives it: its symbol in ``value``."""

    value: str


@dataclass(frozen=True)
class OmePlane:
    the_t: int
    the_c: int
    the_z: int
    delta_t: float | None
    delta_t_unit: OmeUnit


@dataclass(frozen=True)
class OmeChannel:
    id: str
    name: str | None


@dataclass(frozen=True)
class OmePixels:
    size_t: int
    size_c: int
    size_z: int
    size_y: int
    size_x: int
    type: str
    physical_size_x: float | None
    time_increment: float | None
    time_increment_unit: OmeUnit
    channels: list[OmeChannel] = field(default_factory=list)
    planes: list[OmePlane] = field(default_factory=list)


@dataclass(frozen=True)
class OmeImage:
    id: str
    pixels: OmePixels


@dataclass(frozen=True)
class OmeImages:
    """The images of a document, as ``OME.images``."""

    images: list[OmeImage]


def parse_ome_images(xml: str) -> OmeImages | None:
    """The images of an OME-XML document, or None when it is not of the 2016-06 schema.

    Raises
    ------
    ValueError
        A malformed document or attribute (ElementTree's ParseError is one).
    """
    root = ElementTree.fromstring(xml)
    if root.tag != f"{{{OME_NAMESPACE}}}OME":
        return None
    return OmeImages([_image(element) for element in root.findall("ome:Image", _NS)])


def _image(element: ElementTree.Element) -> OmeImage:
    pixels = element.find("ome:Pixels", _NS)
    if pixels is None:
        raise ValueError(f"OME image {element.get('ID')!r} has no Pixels")
    return OmeImage(element.attrib["ID"], OmePixels(
        size_t=int(pixels.attrib["SizeT"]),
        size_c=int(pixels.attrib["SizeC"]),
        size_z=int(pixels.attrib["SizeZ"]),
        size_y=int(pixels.attrib["SizeY"]),
        size_x=int(pixels.attrib["SizeX"]),
        type=pixels.attrib["Type"],
        physical_size_x=_float(pixels.get("PhysicalSizeX")),
        time_increment=_float(pixels.get("TimeIncrement")),
        time_increment_unit=OmeUnit(pixels.get("TimeIncrementUnit", _DEFAULT_TIME_UNIT)),
        channels=[OmeChannel(channel.attrib["ID"], channel.get("Name"))
                  for channel in pixels.findall("ome:Channel", _NS)],
        planes=[OmePlane(int(plane.attrib["TheT"]), int(plane.attrib["TheC"]), int(plane.attrib["TheZ"]),
                         _float(plane.get("DeltaT")), OmeUnit(plane.get("DeltaTUnit", _DEFAULT_TIME_UNIT)))
                for plane in pixels.findall("ome:Plane", _NS)],
    ))


def _float(text: str | None) -> float | None:
    return None if text is None else float(text)
