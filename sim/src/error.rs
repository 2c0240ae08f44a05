//! The one error type of `wqsim`: what went wrong, as a message that names
//! the place, the accepted range and the fix, and the exit status it asks
//! for ([`crate::exit`]): malformed input (2) or the environment (4).
//! Verdicts (a mismatch, a budget, nondeterminism, a harness failure) are
//! not errors: they are results, with their own statuses.

use std::fmt;

use crate::exit::Exit;

/// A command's failure before or outside its runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    /// [`Exit::Malformed`] or [`Exit::Environment`].
    pub exit: Exit,
    pub message: String,
}

impl Error {
    /// Bad input: a scenario, a token, a setting or an argument.
    pub fn malformed(message: impl Into<String>) -> Error {
        Error { exit: Exit::Malformed, message: message.into() }
    }

    /// Something outside the input: a missing kernel image, guest or
    /// program, a file that cannot be read or written.
    pub fn environment(message: impl Into<String>) -> Error {
        Error { exit: Exit::Environment, message: message.into() }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}
