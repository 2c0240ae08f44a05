//! Power tests of the catalog, through its scenarios
//! (`scenarios/catalog/`): each switch on makes the oracle (not a bespoke
//! assertion) report the catalog's invariant, with the details below, and
//! a failure's replay token reproduces the same violation. The findings
//! are also shown caught with the kernel as it is today. The loom rows
//! have theirs in `loom_scenarios.rs`.

#![cfg(not(loom))]

use wqsim::catalog::{root, scenario};
use wqsim::explore::{Base, Budget, Kind, run_of};
use wqsim::run::{execute, parse_token, replay};
use wqsim::scenario::Expect;
use wqsim_model::Inv;
use wqsim_model::bugs::{Bug, CATALOG};

/// What each switch's report must say, beyond its invariant.
const DETAILS: &[(Bug, &str)] = &[
    (Bug::W1, "slab-out-of-bounds: watch_filter.filters[0] of 0 elements accessed in watch_queue_set_filter"),
    (Bug::W3, "notes_bitmap#"),
    (Bug::W4, "64 free bits + 0 held notes != nr_notes 32 (32 free bits at or beyond nr_notes)"),
    (Bug::W5, "ring_size 96 is not a power of two"),
    (Bug::W6, "page#"),
    (Bug::W7, "use-after-free: notes_bitmap#"),
    (Bug::W7, "accessed in watch_queue_pipe_buf_release"),
    (Bug::W9, "null-ptr-deref: __free_page(NULL) in watch_queue_set_size"),
    (Bug::W10, "watch#"),
    (Bug::W11, "notes[]#"),
    (Bug::W12, "use-after-free"),
    (Bug::W13, "use-after-free"),
    (Bug::W16, "points at pipe_inode_info#0, which was freed"),
    (Bug::W17, "nr_watches 9 > RLIMIT_NOFILE 8"),
    (
        Bug::W18,
        "possible recursive locking detected: pipe->mutex acquired in pipe_write while already holding pipe->mutex",
    ),
    (Bug::W19, "user->pipe_bufs 1 != 16"),
    (Bug::P1, "slab-out-of-bounds"),
    (Bug::P10, "ring occupancy: FIONREAD walked 17 slots of a 16-slot ring (head=0 tail=65535)"),
    (Bug::P12, "a loss record was read but no post was lost"),
    (Bug::P13, "returned no POLLIN but the pipe was non-empty at every instant of the call"),
    (Bug::X1, "slab-out-of-bounds: memcpy of 24 bytes from a 4-byte device name in post_usb_notification"),
    (Bug::X2, "(\"1-1\", tag=1) was posted to watch_queue#0 after its watch on 0x0 was removed"),
    (Bug::X3, "null-ptr-deref: m->mnt_watchers in sys_watch_mount at model/src/mount.rs:"),
    (
        Bug::X4,
        "pipe#0's watcher mirrors the mounts below mount 1 as {2 under 1 rw} after its last record, but they are {2 under 1 ro}",
    ),
    (Bug::X5, "sb.error(sb=101, error=5, tag=2) was posted to watch_queue#0 after its watch on 0x65 was removed"),
    (Bug::F9, "'s watcher mirrors keyring"),
    (Bug::U1, "uid 1000: key quota 5 keys, 42 bytes != 4 keys, 40 bytes its referenced keys hold"),
];

/// The switches whose bug only loom sees (a weak-memory ordering or a
/// data race): `loom_scenarios.rs` shows them caught.
const LOOM_ONLY: &[Bug] = &[Bug::W2, Bug::W14, Bug::F2, Bug::F4, Bug::F5, Bug::F7, Bug::F8];

#[test]
fn every_switch_is_caught_as_the_catalog_says() {
    let mut problems = Vec::new();
    for info in CATALOG {
        let sc = scenario(&root(), info.bug).unwrap();
        let on: Vec<_> = sc
            .runs
            .iter()
            .filter(|r| !r.without.contains(&info.bug) && r.expect != Expect::Holds)
            .filter(|r| execute(&sc, r).result.is_some())
            .collect();
        if on.is_empty() {
            if !LOOM_ONLY.contains(&info.bug) {
                problems.push(format!("{}: no switch-on run in this build", info.id));
            }
            continue;
        }
        for run in on {
            let r = execute(&sc, run);
            let v = match &r.result {
                Some(Err(v)) => v.clone(),
                other => {
                    problems.push(format!("{}:{}: not caught: {other:?}", sc.path, run.line));
                    continue;
                }
            };
            if v.inv != info.caught_by {
                problems.push(format!("{}:{}: {v}, the catalog says {}", sc.path, run.line, info.caught_by));
            }
            for (_, detail) in DETAILS.iter().filter(|(b, _)| *b == info.bug) {
                if !v.message.contains(detail) {
                    problems.push(format!("{}:{}: {v}\n  does not mention: {detail}", sc.path, run.line));
                }
            }
            // The printed token replays it, to the same violation.
            let again = replay(&sc, &parse_token(&r.token(&sc)).unwrap()).unwrap();
            if again.result != Some(Err(v.clone())) {
                problems.push(format!("{}:{}: the replay gave {:?}, not {v}", sc.path, run.line, again.result));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_switch_with_a_detail_is_in_the_catalog_and_the_rest_are_loom_only() {
    for info in CATALOG {
        let detailed = DETAILS.iter().any(|(b, _)| *b == info.bug);
        let finding = info.finding;
        assert!(
            detailed || finding || LOOM_ONLY.contains(&info.bug) || matches!(info.bug, Bug::P4 | Bug::P8),
            "{} has no detail to check",
            info.id
        );
    }
}

/// The findings are bugs of the kernel today: the race scenario they come
/// from, on the kernel's own configuration (every finding's switch on),
/// fails with the finding's invariant.
#[test]
fn the_findings_are_caught_on_the_kernel_today() {
    for (file, inv) in [("races/unwatch_vs_post.wq", Inv::S6), ("races/post_vs_read.wq", Inv::N1)] {
        let mut sc = wqsim::scenario::load(&root().join(file)).unwrap();
        assert_eq!(sc.base, Base::Fixed, "{file}");
        let fixed = execute(&sc, &run_of(&sc, Kind::Pct, Budget { iterations: 20_000, ..Budget::default() }, vec![]));
        assert_eq!(fixed.result, Some(Ok(())), "{file}: every switch off");
        sc.base = Base::Kernel;
        let today = execute(&sc, &run_of(&sc, Kind::Pct, Budget { iterations: 20_000, ..Budget::default() }, vec![]));
        assert_eq!(today.result.map(|r| r.map_err(|v| v.inv)), Some(Err(inv)), "{file}: the kernel today");
    }
}

/// Every file in scenarios/catalog/ is a switch's.
#[test]
fn the_catalog_directory_holds_one_scenario_per_switch() {
    let names: Vec<String> = CATALOG.iter().map(wqsim::catalog::file_name).collect();
    for entry in std::fs::read_dir(root().join("catalog")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(names.contains(&name), "scenarios/catalog/{name} is no catalog switch's scenario");
    }
}
