"""Condition annotators: MiDaS depth, PiDiNet edges and the sketch-simplification network."""
from vc_core.models.annotators.midas import MiDaS, load_midas
from vc_core.models.annotators.pidinet import PiDiNet, convert_pidinet_checkpoint, edge_map, load_pidinet
from vc_core.models.annotators.sketch_simplification import (
    SketchSimplification,
    clean_sketch,
    load_sketch_simplification,
)

__all__ = [
    "MiDaS",
    "PiDiNet",
    "SketchSimplification",
    "clean_sketch",
    "convert_pidinet_checkpoint",
    "edge_map",
    "load_midas",
    "load_pidinet",
    "load_sketch_simplification",
]
