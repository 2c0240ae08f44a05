//! The exit status of every `wqsim` command, one place.
//!
//! | status | meaning |
//! |---|---|
//! | 0 | every check passed |
//! | 1 | a result differs from its expectation (a violation, a mismatched outcome, or a run that held where a violation was expected) |
//! | 2 | malformed input: a scenario, a token, a setting or an argument (the message names the place, the accepted range and the fix) |
//! | 3 | nondeterminism: a replay did not follow its recorded schedule |
//! | 4 | environment: something outside the input is missing or broken (no kernel image, no guest, qemu will not start, a file cannot be written) |
//! | 5 | harness failure: the harness itself panicked (reported with the scenario, the run line and a replay line) |
//! | 6 | budget exceeded: a run ran out of steps, time or memory before its verdict |
//!
//! When a command meets several, it exits with the first of 5, 4, 2, 3, 6, 1
//! that applies: a broken harness hides everything else, and a run that
//! could not finish is not a verdict.

use std::process::ExitCode;

/// An exit status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    Pass,
    Failed,
    Budget,
    Nondeterminism,
    Malformed,
    Environment,
    Harness,
}

impl Exit {
    /// The process's status number.
    pub fn code(self) -> u8 {
        match self {
            Exit::Pass => 0,
            Exit::Failed => 1,
            Exit::Malformed => 2,
            Exit::Nondeterminism => 3,
            Exit::Environment => 4,
            Exit::Harness => 5,
            Exit::Budget => 6,
        }
    }

    /// The more severe of two (the order of the table above).
    pub fn worst(self, other: Exit) -> Exit {
        self.max(other)
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e.code())
    }
}
