"""Building objects from registries by name or dict, the form configs and the CLI use."""

from __future__ import annotations

from . import _checks


class Named:
    """Objects described by ``params()`` ({"name": ..., **options}), printed as name(options)."""

    name = "named"

    def params(self) -> dict:
        return {"name": self.name}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items() if k != "name")
        return f"{self.name}({args})"


def build(owner: str, spec, registry: dict, cls: type, what: str):
    """An instance from an instance of ``cls`` (returned as is), a name of ``registry``, or a
    dict {"name": ..., **options}; unknown names and bad options fail with the known names."""
    if isinstance(spec, cls):
        return spec
    if isinstance(spec, str):
        spec = {"name": spec}
    if not isinstance(spec, dict) or "name" not in spec:
        _checks.fail(owner, "spec", f"be a {cls.__name__}, a name or a dict with a 'name' key", spec, kind=TypeError)
    name = spec["name"]
    if name not in registry:
        raise ValueError(f"Unknown {what} {name!r}. Known: {sorted(registry)}.")
    try:
        return registry[name](**{k: v for k, v in spec.items() if k != "name"})
    except TypeError as e:
        raise TypeError(f"Bad options for {what} {name!r}: {e}") from None
