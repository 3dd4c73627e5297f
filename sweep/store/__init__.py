"""The results store: where it lives, its chunks, its layout, the cell table, the lease, checkpoints and
verification. Above `sweep.config`; imports neither the kernels nor Ray."""
