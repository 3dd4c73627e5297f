"""The resolved configuration of one cell: a frozen typed record, read by attribute.

Contract
- :class:`CellConfig` holds a cell's three sections, every field resolved: defaults filled, the grid's values
  set, ``train.n_chains: null`` read as ``train.batch_size``. Read it as ``config.data.n_visible``,
  ``config.train.method``, ``config.rbm.hidden``; it cannot be changed (``model_copy(update=...)`` makes another).
  The grid expansion (:mod:`sweep.config.grid`) builds one per cell; the run, the store and the views read it,
  and no layer above ``config`` reads a cell's configuration by string keys.
- :meth:`CellConfig.of` builds it from the resolved ``{data, rbm, train}`` dict (:func:`sweep.config.fields.resolve`),
  whose values have been validated one by one and against each other (:mod:`sweep.config.sweepfile`); it checks
  them once more against the fields' types and bounds (not the cross-field rules: a sweep's, checked on its grid). :meth:`CellConfig.as_dict` gives that dict back, equal
  to it and with the same canonical JSON (:func:`sweep.config.fields.canonical_json`): the data and training
  seeds (:func:`sweep.config.grid.derive_seeds`) and what the store keeps do not depend on the record.
- It pickles (by reference to its classes), so a Ray task receives it inside its cells.

Why pydantic frozen models rather than dataclasses: the sections' models (:class:`~sweep.config.fields.DataSpec`,
:class:`~sweep.config.fields.RBMSpec`, :class:`~sweep.config.fields.TrainSpec`) already hold every field's type,
default, bounds and description, from which the per-value validation and the JSON Schema are made; the record
is those same models, frozen, so a field is defined once. A dataclass record would restate every field.
Sequences (``data.couplings``) are tuples, so nothing in the record can be changed in place.
"""

from __future__ import annotations

from typing import Any, Mapping

from pydantic import BaseModel, ConfigDict

from .fields import DataSpec, RBMSpec, TrainSpec, copy_value
from .sweepfile import split_sizes

__all__ = ["CellConfig", "DataSpec", "RBMSpec", "TrainSpec"]


class CellConfig(BaseModel):
    """A cell's resolved ``data``, ``rbm`` and ``train`` sections (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    data: DataSpec
    rbm: RBMSpec
    train: TrainSpec

    @classmethod
    def of(cls, spec: Mapping[str, Mapping[str, Any]]) -> "CellConfig":
        """The record of a resolved ``{data, rbm, train}`` dict (lists become tuples). ValidationError for a dict
        that is not a resolved cell's: a missing field, an unknown one, a value of the wrong type (strictly, as
        :func:`sweep.config.fields.validate_value` gives it) or out of its field's bounds."""
        sections = {name: {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
                    for name, values in spec.items()}
        return cls.model_validate(sections, strict=True)

    def as_dict(self) -> dict:
        """The plain ``{data, rbm, train}`` dict (a new one; sequences as lists): what :meth:`of` was built from,
        what :func:`sweep.run_cell` takes (with a master ``seed``) and what seeds are derived from."""
        return copy_value(self.model_dump())

    @property
    def statistics(self) -> bool:
        """Whether the cell computes data statistics (``train.method: statistics``), not an RBM."""
        return self.train.method == "statistics"

    @property
    def potts(self) -> bool:
        """Whether the visible units are Potts states (``data.model: xy``), not spins."""
        return self.data.model == "xy"

    def split_sizes(self) -> tuple[int, int]:
        """(n_train, n_test) of the cell's samples (:func:`sweep.config.sweepfile.split_sizes`)."""
        return split_sizes(self.data.n_samples, self.train.test_fraction)
