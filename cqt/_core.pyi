"""Type stub of the Rust extension `cqt._core` (built from `core_rs/src/py.rs`)."""

def version() -> str:
    """Version of the Rust core crate."""
