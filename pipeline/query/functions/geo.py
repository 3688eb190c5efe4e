"""Harper's geo functions (turf.js in Harper): GeoJSON in (as an object or as its JSON text), turf's numbers out.

Harper answers turf's numbers to the last bit, and the suites compare them exactly, so the two measures
are turf's own formulas, in turf's order of operations: distance and length are the haversine on a sphere
of 6,371,008.8 m with turf's unit factors, area the spherical excess of Chamberlain & Duquette on a sphere
of 6,378,137 m. pyproj's ``Geod`` on the same spheres was tried and differs in the last digits (its
geodesic area by 1e-7), which an exact comparison does not forgive. A null coordinate counts as 0, as it
does in JavaScript's arithmetic. The predicates and ``geoDifference`` are planar over longitude/latitude,
as turf's are, computed by shapely (GEOS).
"""
from __future__ import annotations

import json
import math
from typing import Any

import shapely
from shapely.geometry import mapping, shape
from shapely.geometry.polygon import orient

_EARTH = 6371008.8
_AREA_RADIUS = 6378137.0
#: turf's factors: a length on the sphere per radian, in each unit
_FACTORS = {"centimeters": _EARTH * 100, "centimetres": _EARTH * 100, "degrees": _EARTH / 111325,
            "feet": _EARTH * 3.28084, "inches": _EARTH * 39.37, "kilometers": _EARTH / 1000,
            "kilometres": _EARTH / 1000, "meters": _EARTH, "metres": _EARTH, "miles": _EARTH / 1609.344,
            "millimeters": _EARTH * 1000, "millimetres": _EARTH * 1000, "nauticalmiles": _EARTH / 1852,
            "radians": 1.0, "yards": _EARTH * 1.0936}


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def _geometry(value: Any) -> dict | None:
    """The geometry of a Feature, a geometry, or a bare ``[lon, lat]`` (a point)."""
    value = _json(value)
    if isinstance(value, list) and len(value) >= 2 and all(isinstance(v, (int, float)) for v in value[:2]):
        return {"type": "Point", "coordinates": value}
    if not isinstance(value, dict):
        return None
    if value.get("type") == "Feature":
        return _geometry(value.get("geometry"))
    if value.get("type") == "FeatureCollection":
        return {"type": "GeometryCollection",
                "geometries": [g for f in value.get("features") or [] if (g := _geometry(f))]}
    return value if isinstance(value.get("type"), str) else None


def _shape(value: Any) -> Any:
    geometry = _geometry(value)
    if geometry is None:
        return None
    try:
        return shape(geometry)
    except (ValueError, TypeError, AttributeError, shapely.errors.GEOSException):
        return None


def _factor(units: Any) -> float | None:
    return _FACTORS.get("kilometers" if units is None else str(units).lower())


def _number(value: Any) -> float:
    return 0.0 if value is None else float(value)


def _point(value: Any) -> tuple[float, float] | None:
    geometry = _geometry(value)
    if not geometry or geometry.get("type") != "Point":
        return None
    lon, lat = geometry["coordinates"][:2]
    return _number(lon), _number(lat)


def _radians(degrees: float) -> float:
    return (degrees % 360 if degrees >= 0 else -(-degrees % 360)) * math.pi / 180


def _haversine(first: tuple[float, float], second: tuple[float, float]) -> float:
    """The angle between two points, in radians (turf's distance before its unit factor)."""
    d_lat, d_lon = _radians(second[1] - first[1]), _radians(second[0] - first[0])
    lat1, lat2 = _radians(first[1]), _radians(second[1])
    a = math.sin(d_lat / 2) ** 2 + math.sin(d_lon / 2) ** 2 * math.cos(lat1) * math.cos(lat2)
    return 2 * math.atan2(math.sqrt(a), math.sqrt(1 - a))


def _ring_area(ring: list) -> float:
    """turf's ring area: the spherical excess of Chamberlain & Duquette, on a sphere of 6,378,137 m."""
    n = len(ring)
    if n <= 2:
        return 0.0
    total = 0.0
    for i in range(n):
        lower, middle, upper = ring[i], ring[(i + 1) % n], ring[(i + 2) % n]
        total += (_number(upper[0]) * math.pi / 180 - _number(lower[0]) * math.pi / 180) * \
            math.sin(_number(middle[1]) * math.pi / 180)
    return total * _AREA_RADIUS * _AREA_RADIUS / 2


def _polygon_area(rings: list) -> float:
    if not rings:
        return 0.0
    return abs(_ring_area(rings[0])) - sum(abs(_ring_area(r)) for r in rings[1:])


def _area(geometry: dict) -> float:
    kind = geometry.get("type")
    if kind == "Polygon":
        return _polygon_area(geometry.get("coordinates") or [])
    if kind == "MultiPolygon":
        return sum(_polygon_area(p) for p in geometry.get("coordinates") or [])
    if kind == "GeometryCollection":
        return sum(_area(g) for g in geometry.get("geometries") or [])
    return 0.0


def geo_area(value: Any) -> float | None:
    geometry = _geometry(value)
    return _area(geometry) if geometry else None


def _lines(geometry: dict) -> list[list]:
    kind, coordinates = geometry.get("type"), geometry.get("coordinates") or []
    if kind == "LineString":
        return [coordinates]
    if kind in ("MultiLineString", "Polygon"):
        return list(coordinates)
    if kind == "MultiPolygon":
        return [ring for polygon in coordinates for ring in polygon]
    if kind == "GeometryCollection":
        return [line for g in geometry.get("geometries") or [] for line in _lines(g)]
    return []


def geo_length(value: Any, units: Any = None) -> float | None:
    geometry, factor = _geometry(value), _factor(units)
    if geometry is None or factor is None or not geometry.get("coordinates") and not geometry.get("geometries"):
        return None
    total = 0.0
    for line in _lines(geometry):
        points = [(_number(p[0]), _number(p[1])) for p in line]
        for first, second in zip(points, points[1:]):
            total += _haversine(first, second) * factor
    return total


def geo_distance(a: Any, b: Any, units: Any = None) -> float | None:
    first, second, factor = _point(a), _point(b), _factor(units)
    if first is None or second is None or factor is None:
        return None
    return _haversine(first, second) * factor


def geo_near(a: Any, b: Any, distance: Any, units: Any = None) -> bool | None:
    measured = geo_distance(a, b, units)
    if measured is None or not isinstance(distance, (int, float)):
        return None
    return measured <= distance


def geo_contains(a: Any, b: Any) -> bool | None:
    first, second = _shape(a), _shape(b)
    if first is None or second is None:
        return None
    return bool(first.contains(second))


def geo_equal(a: Any, b: Any) -> bool | None:
    first, second = _shape(a), _shape(b)
    if first is None or second is None:
        return None
    return bool(first.equals(second))


def geo_crosses(a: Any, b: Any) -> bool | None:
    first, second = _shape(a), _shape(b)
    if first is None or second is None:
        return None
    return bool(first.crosses(second) or (first.intersects(second) and not first.touches(second)
                                          and first.geom_type != second.geom_type
                                          and not first.contains(second) and not second.contains(first)))


def _coordinates(value: Any) -> Any:
    """Nested tuples as lists, as GeoJSON writes them."""
    if isinstance(value, (list, tuple)):
        return [_coordinates(v) for v in value]
    return value


def _ring(coordinates: Any) -> list:
    """A ring as turf's clipping writes it: from its leftmost (then lowest) point, closed."""
    points = [list(p) for p in coordinates][:-1]
    start = min(range(len(points)), key=lambda i: (points[i][0], points[i][1]))
    points = points[start:] + points[:start]
    return points + [points[0]]


def _turf_geometry(geometry: Any) -> dict:
    """A shapely result as turf's GeoJSON: exterior rings counter-clockwise, holes clockwise (shapely's
    ``orient``), each ring from its leftmost point."""
    if geometry.geom_type == "Polygon":
        oriented = mapping(orient(geometry, sign=1.0))
        return {"type": "Polygon", "coordinates": [_ring(r) for r in oriented["coordinates"]]}
    if geometry.geom_type == "MultiPolygon":
        return {"type": "MultiPolygon",
                "coordinates": [_turf_geometry(p)["coordinates"] for p in geometry.geoms]}
    raw = mapping(geometry)
    return {"type": raw["type"], "coordinates": _coordinates(raw.get("coordinates", []))}


def geo_difference(a: Any, b: Any) -> dict | None:
    feature = _json(a)
    first, second = _shape(a), _shape(b)
    if first is None or second is None:
        return None
    properties = feature.get("properties") if isinstance(feature, dict) else None
    return {"type": "Feature", "properties": properties if properties is not None else {},
            "geometry": _turf_geometry(first.difference(second))}


_KINDS = {"point": "Point", "lineString": "LineString", "linestring": "LineString", "polygon": "Polygon",
          "multiPoint": "MultiPoint", "multipoint": "MultiPoint", "multiLineString": "MultiLineString",
          "multilinestring": "MultiLineString", "multiPolygon": "MultiPolygon", "multipolygon": "MultiPolygon"}


def geo_convert(coordinates: Any, kind: Any, properties: Any = None) -> dict | None:
    """A Feature of the given kind over the coordinates; the properties as given (Harper keeps the text)."""
    value = _json(coordinates)
    name = _KINDS.get(kind) if isinstance(kind, str) else None
    if name is None or not isinstance(value, list):
        return None
    return {"type": "Feature", "properties": properties if properties is not None else {},
            "geometry": {"type": name, "coordinates": value}}


#: name: (function, DuckDB result type, fewest arguments, most arguments, volatile)
FUNCTIONS = {
    "geoarea": (geo_area, "DOUBLE", 1, 1, False),
    "geolength": (geo_length, "DOUBLE", 1, 2, False),
    "geodistance": (geo_distance, "DOUBLE", 2, 3, False),
    "geonear": (geo_near, "BOOLEAN", 3, 4, False),
    "geocontains": (geo_contains, "BOOLEAN", 2, 2, False),
    "geoequal": (geo_equal, "BOOLEAN", 2, 2, False),
    "geocrosses": (geo_crosses, "BOOLEAN", 2, 2, False),
    "geodifference": (geo_difference, "JSON", 2, 2, False),
    "geoconvert": (geo_convert, "JSON", 2, 3, False),
}
