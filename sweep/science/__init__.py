"""Physics on arrays: the analysis of trained weights, the theory of the data models, data spectra.
Beside `sweep.store`, above `sweep.config`: no store, no Ray; loads in any notebook."""
