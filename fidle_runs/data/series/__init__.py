"""Time series (FIDLE's LADYB and SYNOP notebooks, any CSV with a time column): a series read or
generated, cut in time order into train, validation and test, z-scored with train's statistics
(kept with the run), and served as windows that are views on one in-memory tensor."""
