//! Fault injection (`Op::FailNth`, the kernel's `fail_nth`): the fault
//! points of `watch_queue_set_size` are counted as the kernel counts them.
//! The catalog's programs, and their power tests, are the scenario files
//! in `scenarios/catalog/`, which `wqsim` runs.

use wqsim_model::api::Op;
use wqsim_model::api::ops::*;
use wqsim_model::kernel::Config;

/// SET_SIZE(33) with the fourth fault point failed (the program of
/// `scenarios/catalog/w9-errpath-null.wq`): the ring array, the page
/// array, then one point per page, so the fourth is the second page.
#[test]
fn the_fourth_fault_point_of_set_size_33_is_the_second_page() {
    let ops = [notification_pipe(0), Op::FailNth { n: 4 }, set_size(0, 33)];
    let mut run = wqsim_model::seq::SeqRun::new(Config::fixed());
    run.run(&ops).unwrap();
    let log = run.kernel.heap.fail_nth.log.lock().clone();
    let failed: Vec<_> = log.iter().filter(|(_, f)| *f).map(|(s, _)| *s).collect();
    assert_eq!(failed, ["watch_queue_set_size: alloc_page"]);
    let pages_tried = log.iter().filter(|(s, _)| *s == "watch_queue_set_size: alloc_page").count();
    assert_eq!(pages_tried, 2);
}
