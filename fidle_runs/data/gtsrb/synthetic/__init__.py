"""Synthetic traffic signs written in GTSRB's raw on-disk layouts, to run the real pipeline offline.

43 sign-like classes, distinct in grayscale too, each drawn once per process as a clean pictogram.
Train images come in tracks of 30 views of one physical sign that grow along the track (a car
approaching), as in GTSRB; test images are single views. Every view gets GTSRB's nuisances:
size, position, rotation, perspective, light, colour cast, fading, blur, noise, cluttered
background, sometimes an occluder. An image's randomness comes from (seed, split, index) and its
track's from (seed, split, class, track), so the files do not depend on the number of workers.

`pictograms` draws the classes, `views` renders one view of a sign, `writer` writes the set.
"""

from fidle_runs.data.gtsrb.synthetic.pictograms import N_CLASSES
from fidle_runs.data.gtsrb.synthetic.writer import (
    GEOMETRY_COLUMNS,
    LAYOUTS,
    TEST_COUNTS,
    TRACK_LENGTH,
    TRAIN_COUNTS,
    class_counts,
    write_synthetic_gtsrb,
)

__all__ = [
    "GEOMETRY_COLUMNS",
    "LAYOUTS",
    "N_CLASSES",
    "TEST_COUNTS",
    "TRACK_LENGTH",
    "TRAIN_COUNTS",
    "class_counts",
    "write_synthetic_gtsrb",
]
