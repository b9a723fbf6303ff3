"""What every image family shares: decoding any image file, FIDLE's resize and enhancement, the
prepared image-set H5 file and the datamodule that serves it (from memory or read from disk).
Imports core and data's shared modules; never a family's folder."""
