"""The sweep file and the vocabulary every layer shares: YAML loading, fields, grid syntax, overrides,
the Sweep, grid expansion and seeds, reconciling a sweep with a store's, the store's names, the errors.

The bottom layer of `sweep`: it imports no other layer, and neither the kernels nor Ray, zarr or xarray."""
