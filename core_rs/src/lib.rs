//! `core_rs`: the numeric core of cqt.
//!
//! The kernels are plain Rust and are tested with `cargo test`; the Python bindings live in
//! the [`py`] module alone and are compiled only with the `python` feature (maturin sets it).

#[cfg(feature = "python")]
mod py;

/// Version of the core crate, as recorded in `Cargo.toml`.
pub fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_is_semver() {
        let parts: Vec<&str> = version().split('.').collect();
        assert_eq!(parts.len(), 3);
        assert!(parts.iter().all(|p| p.parse::<u32>().is_ok()));
    }
}
