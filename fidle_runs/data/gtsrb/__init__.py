"""GTSRB, as FIDLE prepares it (GTSRB1): raw images (real, downloaded or synthetic) -> enhanced
H5 sets -> the in-memory data of a run."""
