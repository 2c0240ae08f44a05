//! An executable model of the Linux general notification queue
//! (`watch_queue`, built on pipes), faithful to Linux 6.12, with the
//! machinery to check it: object lifetimes, RCU, a trace of every step,
//! the catalog of historical bugs as switches, a sequential reference, and
//! an oracle of invariants.
//!
//! | kernel file | module | functions modelled |
//! |---|---|---|
//! | include/uapi/linux/watch_queue.h | [`uapi`] | record layout, constants, `watch_test.c` printing |
//! | fs/pipe.c, include/linux/pipe_fs_i.h | [`pipe`] | `pipe_read`, `pipe_write`, `pipe_ioctl`, `pipe_poll`, `pipe_release`, `free_pipe_info`, `alloc_pipe_info`, `pipe_resize_ring`, `pipe_fcntl`, `do_pipe2` |
//! | kernel/watch_queue.c | [`watch_queue`] | `post_one_notification`, `__post_watch_notification`, `filter_watch_notification`, `watch_queue_set_size`, `watch_queue_set_filter`, `add_watch_to_object`, `remove_watch_from_object`, `watch_queue_clear`, `put_watch_queue`, `free_watch`, `get_watch_queue`, `watch_queue_init` |
//! | security/keys/*.c | [`keys`] | `notify_key`, `key_create_or_update`, `key_update`, `key_revoke`, `key_invalidate`, `__key_link`, `key_unlink`, `keyring_clear`, `keyctl_*`, `key_garbage_collector` |
//! | drivers/base/watch.c, block/blk-core.c, drivers/usb/core/devio.c (ver #1 of the series, `variant v1`) | [`device`] | `watch_devices`, `post_device_notification`, `post_block_notification`, `post_usb_notification` |
//! | fs/mount_notify.c, fs/namespace.c, fs/super.c, include/linux/fs.h (ver #5 of the series, `variant v5`) | [`mount`] | `watch_mount`, `notify_mount`, `post_mount_notification`, `watch_sb`, `notify_sb`, `notify_sb_error`, `mntput_no_expire`, `deactivate_locked_super`, `do_reconfigure_mnt`, `reconfigure_super` |
//! | fs/splice.c | [`splice`] | `do_splice`, `do_tee`, `vmsplice` refusals |
//! | security/security.c, security/smack/smack_lsm.c, security/selinux/hooks.c | [`lsm`] | `security_watch_key`, `security_watch_devices`, `security_watch_mount`, `security_watch_sb`, `security_post_notification`, `security_key_permission`, `security_setprocattr`, `smk_access` |
//! | fs/file.c, fs/read_write.c, fs/ioctl.c, fs/fcntl.c | [`file`], [`syscalls`] | descriptors and syscall entry |
//! | mm | [`mm`] | pages and their references |
//!
//! The table is the overview; the exact map is in the functions
//! themselves: each model function that mirrors a kernel function says
//! `/// Mirrors FILE FUNCTION() of 6.12, lines A-B, fp HEX.` (or `of series
//! v5`), and [`kmap`] holds the sources `wqsim drift` and `wqsim review`
//! read those lines from.
//!
//! The modules form layers whose imports run one way, bottom to top
//! (`tests/layers.rs` checks it; the README's "Architecture" lists the
//! exceptions):
//!
//! - vocabulary: [`invariant`] (every invariant's ID, [`Violation`],
//!   `fail`, `wq_assert!`), [`errno`], [`uapi`], [`probe`] (protocol
//!   states reached, for fuzzing), [`bugs`] (the catalog);
//! - the sync facade: [`sync`] (std, loom or shuttle; the per-thread
//!   kernel context its locks report to);
//! - checker machinery: [`trace`] (labelled events, lockdep's graph),
//!   [`heap`] (KASAN/kmemleak-style lifetimes), [`catch`] (violations
//!   caught as values);
//! - kernel mirrors, one per kernel source (the table above), with
//!   [`kernel`] (the machine and `Cx`) and [`rcu`];
//! - [`api`] (operations and outcomes), [`spec`] (the sequential
//!   reference) and [`oracle`] (the checks over record streams and state);
//! - runners: [`seq`] (sequential) and [`conc`] (concurrent);
//! - [`explore`]: the loom and shuttle explorers, outside the facade.

pub mod sync;

pub mod api;
pub mod bugs;
pub mod catch;
pub mod conc;
pub mod device;
pub mod errno;
pub mod eventpoll;
pub mod explore;
pub mod file;
pub mod fops;
pub mod heap;
pub mod invariant;
pub mod kernel;
pub mod keys;
pub mod kmap;
pub mod lsm;
pub mod mm;
pub mod mount;
pub mod oracle;
pub mod pipe;
pub mod probe;
pub mod rcu;
pub mod seq;
pub mod spec;
pub mod splice;
pub mod syscalls;
pub mod trace;
pub mod uapi;
pub mod watch_queue;

pub use errno::Errno;
pub use invariant::{Inv, Violation};
pub use kernel::{Config, Kernel};
