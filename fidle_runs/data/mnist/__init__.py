"""MNIST and Fashion-MNIST (FIDLE MNIST notebooks): their files, where users keep them, classes."""
