//! The race families: small concurrent programs, one per way the
//! notification queue's actors meet. The same program runs under loom
//! (`tests/loom_families.rs`), shuttle (`tests/shuttle_families.rs`) and,
//! one schedule at a time, under std; each catalog race switch names the
//! family that catches it.
//!
//! Actors: posters (key operations on watched keys), readers (blocking
//! and non-blocking), the closer (pipe release while posts are in
//! flight), the sizer, the filter setter, watch and unwatch, and the key
//! garbage collector.

use crate::api::ops::*;
use crate::api::{KeyRef, Op};
use crate::conc::{Actor, Program};
use crate::kernel::Config;
use crate::uapi::*;

/// A race family.
#[derive(Clone, Copy, Debug)]
pub struct Family {
    /// Its name (`post_vs_read`).
    pub name: &'static str,
    /// What races with what.
    pub about: &'static str,
    /// The program.
    pub program: fn(Config) -> Program,
    /// Loom's preemption bound for this family in the PR tier (the nightly
    /// tier adds one): 3, or 1 for three blocking actors on one pipe,
    /// whose exploration at 2 runs past the PR tier's budget.
    pub loom_bound: usize,
}

fn watched(tag: i32) -> Vec<Op> {
    vec![notification_pipe(0), set_size(0, 1), user_key(0, "k"), watch(0, 0, tag)]
}

fn post_vs_read(config: Config) -> Program {
    Program {
        config,
        setup: watched(1),
        actors: vec![
            Actor::new("poster", vec![update(0), update(0)]),
            Actor::new("reader", vec![read(0, 4096), read(0, 4096)]),
        ],
    }
}

fn post_vs_resize(config: Config) -> Program {
    // The watch exists before the queue is sized: posts race the sizing.
    Program {
        config,
        setup: vec![notification_pipe(0), user_key(0, "k"), watch(0, 0, 1)],
        actors: vec![Actor::new("sizer", vec![set_size(0, 1)]), Actor::new("poster", vec![update(0), update(0)])],
    }
}

fn post_vs_filter(config: Config) -> Program {
    let only_updated = encode_filter(
        0,
        &[WatchNotificationTypeFilter {
            type_: 1,
            subtype_filter: [1 << NOTIFY_KEY_UPDATED, 0, 0, 0, 0, 0, 0, 0],
            ..Default::default()
        }],
    );
    Program {
        config,
        setup: watched(1),
        actors: vec![
            Actor::new(
                "filter",
                vec![
                    set_filter(0, only_updated.clone()),
                    Op::Ioctl { fd: r(0), req: crate::api::IoctlReq::SetFilter(None) },
                ],
            ),
            Actor::new("poster", vec![update(0), Op::SetTimeout { key: KeyRef::Slot(0), secs: 1 }]),
        ],
    }
}

fn post_vs_clear(config: Config) -> Program {
    let [cr, cw] = close_both(0);
    Program {
        config,
        setup: watched(1),
        actors: vec![Actor::new("poster", vec![update(0), update(0)]), Actor::new("closer", vec![cr, cw])],
    }
}

fn destroy_vs_clear(config: Config) -> Program {
    let [cr, cw] = close_both(0);
    Program {
        config,
        setup: watched(1),
        actors: vec![
            Actor::new("destroyer", vec![Op::Unlink { key: KeyRef::Slot(0), keyring: KeyRef::Session }, Op::KeyGc]),
            Actor::new("closer", vec![cr, cw]),
        ],
    }
}

fn add_vs_clear_other(config: Config) -> Program {
    // Queue 1 already watches the key; queue 0 adds a watch while queue 1
    // is torn down: both change the key's watch list.
    let [cr, cw] = close_both(1);
    Program {
        config,
        setup: vec![
            notification_pipe(0),
            notification_pipe(1),
            set_size(0, 1),
            set_size(1, 1),
            user_key(0, "k"),
            watch(0, 1, 2),
        ],
        actors: vec![Actor::new("watcher", vec![watch(0, 0, 1)]), Actor::new("closer", vec![cr, cw])],
    }
}

fn two_posters(config: Config) -> Program {
    let mut setup = watched(1);
    setup.push(user_key(1, "k1"));
    setup.push(watch(1, 0, 2));
    Program {
        config,
        setup,
        actors: vec![
            Actor::new("poster0", vec![update(0), update(0)]),
            Actor::new("poster1", vec![update(1), update(1)]),
        ],
    }
}

fn blocking_reader(config: Config) -> Program {
    Program {
        config,
        setup: vec![
            Op::Pipe2 { pipe: 0, flags: O_NOTIFICATION_PIPE },
            set_size(0, 1),
            user_key(0, "k"),
            watch(0, 0, 1),
        ],
        actors: vec![Actor::blocking("reader", vec![read(0, 4096)]), Actor::new("poster", vec![update(0)])],
    }
}

fn unwatch_vs_post(config: Config) -> Program {
    Program {
        config,
        setup: watched(1),
        actors: vec![
            Actor::new("unwatcher", vec![watch(0, 0, -1)]),
            Actor::new("poster", vec![update(0), Op::SetTimeout { key: KeyRef::Slot(0), secs: 1 }]),
        ],
    }
}

fn write_vs_shrink(config: Config) -> Program {
    // The ring is full; the writer sleeps; the shrinker drains all but one
    // page and shrinks the ring to one slot, then reads.
    let page = vec![0x5a; 4096];
    let mut setup = vec![Op::Pipe2 { pipe: 0, flags: 0 }];
    setup.extend((0..16).map(|_| Op::Write { fd: w(0), data: page.clone() }));
    Program {
        config,
        setup,
        actors: vec![
            Actor::blocking("writer", vec![Op::Write { fd: w(0), data: page.clone() }]),
            Actor::new(
                "shrinker",
                vec![
                    Op::Read { fd: r(0), len: 15 * 4096 },
                    Op::Fcntl { fd: w(0), cmd: F_SETPIPE_SZ, arg: 4096 },
                    Op::Read { fd: r(0), len: 8192 },
                ],
            ),
        ],
    }
}

fn writers_vs_reader(config: Config) -> Program {
    // A one-slot pipe, full: two writers and a reader of three pages.
    let page = vec![0x5a; 4096];
    Program {
        config,
        setup: vec![
            Op::Pipe2 { pipe: 0, flags: 0 },
            Op::Fcntl { fd: w(0), cmd: F_SETPIPE_SZ, arg: 4096 },
            Op::Write { fd: w(0), data: page.clone() },
        ],
        actors: vec![
            Actor::blocking("writer_a", vec![Op::Write { fd: w(0), data: page.clone() }]),
            Actor::blocking("reader", vec![read(0, 4096), read(0, 4096), read(0, 4096)]),
            Actor::blocking("writer_b", vec![Op::Write { fd: w(0), data: page.clone() }]),
        ],
    }
}

fn one_slot_pipe(config: Config) -> Program {
    // A user over its soft pipe-page quota; the pipe's one buffer holds a
    // token whose data reaches the end of its page, as a jobserver's does
    // after enough tokens went through it.
    let config = Config { privileged: false, uid: 1000, pipe_user_pages_soft: 1, ..config };
    Program {
        config,
        setup: vec![
            Op::Pipe2 { pipe: 0, flags: 0 },
            Op::Write { fd: w(0), data: vec![b'+'] },
            Op::Write { fd: w(0), data: vec![b'+'; 4094] },
            Op::Read { fd: r(0), len: 4094 },
        ],
        // Not a blocking actor: a jobserver whose token never goes back
        // hangs the build, and that is the bug (V1).
        actors: vec![Actor::new(
            "jobserver",
            vec![Op::Write { fd: w(0), data: vec![b'+'] }, Op::Write { fd: w(0), data: vec![b'+'] }],
        )],
    }
}

/// Every family.
pub const FAMILIES: &[Family] = &[
    Family {
        name: "post_vs_read",
        about: "a poster fills slots while a reader drains them",
        program: post_vs_read,
        loom_bound: 3,
    },
    Family {
        name: "post_vs_resize",
        about: "posts race IOC_WATCH_QUEUE_SET_SIZE on a watched queue",
        program: post_vs_resize,
        loom_bound: 3,
    },
    Family {
        name: "post_vs_filter",
        about: "posts race the replacement and removal of the filter",
        program: post_vs_filter,
        loom_bound: 3,
    },
    Family {
        name: "post_vs_clear",
        about: "posts race the release of the pipe (watch_queue_clear, free)",
        program: post_vs_clear,
        loom_bound: 3,
    },
    Family {
        name: "destroy_vs_clear",
        about: "the key collector's remove_watch_list races watch_queue_clear",
        program: destroy_vs_clear,
        loom_bound: 3,
    },
    Family {
        name: "add_vs_clear_other",
        about: "a watch is added to a key while another queue on that key is cleared",
        program: add_vs_clear_other,
        loom_bound: 3,
    },
    Family {
        name: "two_posters",
        about: "two posters share one queue's notes and ring",
        program: two_posters,
        loom_bound: 3,
    },
    Family {
        name: "blocking_reader",
        about: "a blocking reader sleeps until a poster wakes it",
        program: blocking_reader,
        loom_bound: 3,
    },
    Family {
        name: "unwatch_vs_post",
        about: "KEYCTL_WATCH_KEY -1 races posts on the same key",
        program: unwatch_vs_post,
        loom_bound: 3,
    },
    Family {
        name: "write_vs_shrink",
        about: "a writer sleeps on a full pipe while another task shrinks the ring (F_SETPIPE_SZ)",
        program: write_vs_shrink,
        loom_bound: 3,
    },
    Family {
        name: "writers_vs_reader",
        about: "two writers and a reader take turns on a one-slot pipe",
        program: writers_vs_reader,
        loom_bound: 1,
    },
    Family {
        name: "one_slot_pipe",
        about: "a jobserver-style writer on the pipe of a user over the soft page quota",
        program: one_slot_pipe,
        loom_bound: 3,
    },
];

/// Look a family up by name.
pub fn family(name: &str) -> Option<&'static Family> {
    FAMILIES.iter().find(|f| f.name == name)
}
