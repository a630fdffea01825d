//! PyO3 bindings: the only place that knows about Python. Each function here converts
//! arguments, calls a plain-Rust kernel and converts the result back.

use pyo3::prelude::*;

/// Version of the Rust core (the `core_rs` crate version).
#[pyfunction]
fn version() -> &'static str {
    crate::version()
}

/// The `cqt._core` extension module.
#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(version, m)?)?;
    Ok(())
}
