"""Text (FIDLE's IMDB notebooks): reviews as Keras' imdb.npz holds them or as raw text files in
the Stanford aclImdb layout, words numbered by frequency on the train texts with Keras' id
conventions, padded to `data.maxlen` and cached once per vocabulary and length."""
