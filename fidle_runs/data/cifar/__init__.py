"""CIFAR-10 and CIFAR-100, read from the four layouts the CIFAR page distributes (python pickles
and binary records, as folders or as their unextracted archives) wherever users keep them, then
prepared once into the shared image set of fidle_runs.data.images and served by its datamodule.

Imports core, config, store and data's shared modules (fidle_runs.data.images among them); never
another family's folder."""
