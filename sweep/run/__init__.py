"""Running a sweep: the plan, the launchers (Ray, serial), the runner, the task bodies, one cell's computation,
progress, provenance and the run log. Above `sweep.store` and `sweep.science`."""
