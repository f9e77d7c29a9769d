"""The serving engine: the generator cache, request batching, inputs, formats, translation, variations, styles and
augment streams. No HTTP routing of its own."""
