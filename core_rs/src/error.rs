//! Typed errors of the kernels. Every rejection of input data names the table, the row and the
//! field, so a caller can find the offending record without re-running anything.

use std::fmt;

/// Why a kernel refused its input.
#[derive(Debug, Clone, PartialEq)]
pub enum KernelError {
    /// Two columns of the same table have different lengths.
    LengthMismatch {
        /// Table whose columns disagree (`"trades"`, `"quotes"`, `"gaps"`, `"bars"`).
        table: &'static str,
        /// Column whose length differs from the first column.
        column: &'static str,
        /// Length of the table's first column.
        expected: usize,
        /// Length of `column`.
        got: usize,
    },
    /// A numeric value is NaN, infinite, zero or negative where that is not allowed.
    InvalidValue {
        /// Table holding the value.
        table: &'static str,
        /// Zero-based row in the input as passed in.
        row: usize,
        /// Column holding the value.
        field: &'static str,
        /// The offending value.
        value: f64,
        /// What the value must satisfy.
        rule: &'static str,
    },
    /// A timestamp or symbol id is out of range or out of the required order.
    InvalidKey {
        /// Table holding the value.
        table: &'static str,
        /// Zero-based row in the input as passed in.
        row: usize,
        /// Column holding the value.
        field: &'static str,
        /// The offending value.
        value: i64,
        /// What the value must satisfy.
        rule: &'static str,
    },
    /// A parameter (not a data row) is invalid.
    InvalidParam {
        /// Parameter name as the caller spells it.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::LengthMismatch {
                table,
                column,
                expected,
                got,
            } => {
                write!(
                    f,
                    "{table}: column {column} has {got} rows, expected {expected}"
                )
            }
            Self::InvalidValue {
                table,
                row,
                field,
                value,
                rule,
            } => {
                write!(
                    f,
                    "{table} row {row}: {field} = {value} is invalid ({rule})"
                )
            }
            Self::InvalidKey {
                table,
                row,
                field,
                value,
                rule,
            } => {
                write!(
                    f,
                    "{table} row {row}: {field} = {value} is invalid ({rule})"
                )
            }
            Self::InvalidParam { name, reason } => write!(f, "parameter {name}: {reason}"),
        }
    }
}

impl std::error::Error for KernelError {}

/// Checks that `len` equals the table length `expected`.
pub(crate) fn check_len(
    table: &'static str,
    column: &'static str,
    expected: usize,
    len: usize,
) -> Result<(), KernelError> {
    if len == expected {
        Ok(())
    } else {
        Err(KernelError::LengthMismatch {
            table,
            column,
            expected,
            got: len,
        })
    }
}

/// Checks that `value` is finite and strictly positive.
pub(crate) fn positive(
    table: &'static str,
    row: usize,
    field: &'static str,
    value: f64,
) -> Result<(), KernelError> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(KernelError::InvalidValue {
            table,
            row,
            field,
            value,
            rule: "must be finite and > 0",
        })
    }
}

/// Checks that `value` is finite and not negative.
pub(crate) fn non_negative(
    table: &'static str,
    row: usize,
    field: &'static str,
    value: f64,
) -> Result<(), KernelError> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(KernelError::InvalidValue {
            table,
            row,
            field,
            value,
            rule: "must be finite and >= 0",
        })
    }
}
