//! `core_rs`: the numeric core of cqt.
//!
//! The kernels are plain Rust and are tested with `cargo test`; the Python bindings live in
//! the `py` module alone and are compiled only with the `python` feature (maturin sets it).
//!
//! * [`bars`]: batch one-second bars (trades, quotes, gaps), one or many symbols, any order.
//! * [`stream`]: streaming bar aggregator with watermark, revisions and late-trade counting.
//! * [`labels`]: fixed-horizon and triple-barrier labels with fixed or dynamic thresholds.

pub mod acc;
pub mod bars;
pub mod error;
pub mod labels;
pub mod stream;
pub mod tables;
pub mod window;

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
