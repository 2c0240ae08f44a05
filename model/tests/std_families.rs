//! Every race family runs to completion under the std backend (one
//! schedule: actors run one after another) with every check passing.

#![cfg(not(any(loom, feature = "shuttle")))]

use wqsim_model::conc;
use wqsim_model::families::FAMILIES;
use wqsim_model::kernel::Config;
use wqsim_model::oracle::catch_violation;

#[test]
fn every_family_holds_on_one_schedule() {
    for f in FAMILIES {
        let p = (f.program)(Config::default());
        let r = catch_violation(|| conc::run(&p)).unwrap_or_else(|v| panic!("{}: {v}", f.name));
        assert_eq!(r.outcomes.len(), p.actors.len(), "{}", f.name);
    }
}
