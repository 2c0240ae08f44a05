//! IOC_WATCH_QUEUE_SET_FILTER: every validation rule, and what a filter
//! lets through. Model and reference must agree with the expectations.

mod common;

use common::script;
use wqsim_model::api::ops::*;
use wqsim_model::api::{IoctlReq, KeyRef, Op};
use wqsim_model::uapi::*;

fn entry(type_: u32, subtypes: u32, info_filter: u32, info_mask: u32) -> WatchNotificationTypeFilter {
    WatchNotificationTypeFilter { type_, info_filter, info_mask, subtype_filter: [subtypes, 0, 0, 0, 0, 0, 0, 0] }
}
fn filter(entries: &[WatchNotificationTypeFilter]) -> Op {
    set_filter(0, encode_filter(0, entries))
}
fn bit(st: u8) -> u32 {
    1 << st
}

/// Validation: EFAULT for a short header or missing entries, EINVAL for 0
/// or more than 16 entries, a reserved word, info_filter bits outside the
/// mask, or a mask over the length bits; ENODEV on a plain pipe.
#[test]
fn set_filter_validation() {
    let good = entry(WATCH_TYPE_KEY_NOTIFY, u32::MAX, 0, 0);
    let seventeen = vec![good; 17];
    script(&[
        (notification_pipe(0), "0"),
        (Op::Ioctl { fd: r(0), req: IoctlReq::SetFilter(None) }, "0"),
        (set_filter(0, vec![1, 0, 0, 0]), "EFAULT"),
        (set_filter(0, encode_filter(0, &[])), "EINVAL"),
        (set_filter(0, encode_filter(0, &seventeen)), "EINVAL"),
        (set_filter(0, encode_filter(1, &[good])), "EINVAL"),
        (set_filter(0, encode_filter_with_count(2, 0, &[good])), "EFAULT"),
        (filter(&[entry(1, u32::MAX, 0x0100, 0)]), "EINVAL"),
        (filter(&[entry(1, u32::MAX, 0, WATCH_INFO_LENGTH)]), "EINVAL"),
        (filter(&[entry(1, u32::MAX, 0, 0x01)]), "EINVAL"),
        (filter(&[good, entry(1, u32::MAX, 0x10000, 0)]), "EINVAL"),
        (filter(&vec![good; 16]), "0"),
        (Op::Pipe2 { pipe: 1, flags: O_NONBLOCK }, "0"),
        (Op::Ioctl { fd: r(1), req: IoctlReq::SetFilter(Some(encode_filter(0, &[good]))) }, "ENODEV"),
    ]);
}

/// Subtype bits select subtypes; records already queued are not affected
/// by a later filter change; removing the filter lets everything through.
#[test]
fn filter_by_subtype() {
    script(&[
        (notification_pipe(0), "0"),
        (set_size(0, 1), "0"),
        (user_key(0, "k"), "k0"),
        (watch(0, 0, 1), "0"),
        (update(0), "0"),
        (filter(&[entry(WATCH_TYPE_KEY_NOTIFY, bit(NOTIFY_KEY_SETATTR), 0, 0)]), "0"),
        (update(0), "0"),
        (Op::Setperm { key: KeyRef::Slot(0), perm: 0x3f010000 }, "0"),
        (read(0, 4096), "[key.updated(k0, tag=1), key.setattr(k0, tag=1)]"),
        (Op::Ioctl { fd: r(0), req: IoctlReq::SetFilter(None) }, "0"),
        (update(0), "0"),
        (read(0, 4096), "[key.updated(k0, tag=1)]"),
    ]);
}

/// The tag is written into info before filtering, so info_filter and
/// info_mask over WATCH_INFO_ID select watches by tag.
#[test]
fn filter_by_tag() {
    script(&[
        (notification_pipe(0), "0"),
        (set_size(0, 1), "0"),
        (user_key(0, "a"), "k0"),
        (user_key(1, "b"), "k1"),
        (watch(0, 0, 1), "0"),
        (watch(1, 0, 2), "0"),
        (filter(&[entry(WATCH_TYPE_KEY_NOTIFY, u32::MAX, 0x0200, WATCH_INFO_ID)]), "0"),
        (update(0), "0"),
        (update(1), "0"),
        (read(0, 4096), "[key.updated(k1, tag=2)]"),
    ]);
}

/// Entries of unknown types are ignored; a filter made only of them passes
/// nothing, but removal records bypass filters.
#[test]
fn unknown_types_block_everything_but_removals() {
    script(&[
        (notification_pipe(0), "0"),
        (set_size(0, 1), "0"),
        (user_key(0, "k"), "k0"),
        (watch(0, 0, 3), "0"),
        (filter(&[entry(5, u32::MAX, 0, 0), entry(0x200, u32::MAX, 0, 0)]), "0"),
        (update(0), "0"),
        (watch(0, 0, -1), "0"),
        (read(0, 4096), "[meta.removal(k0, tag=3)]"),
    ]);
}

/// Several entries: a record passes if any entry matches its type,
/// subtype and info bits.
#[test]
fn any_entry_may_match() {
    script(&[
        (notification_pipe(0), "0"),
        (set_size(0, 1), "0"),
        (user_key(0, "a"), "k0"),
        (watch(0, 0, 1), "0"),
        (
            filter(&[
                entry(WATCH_TYPE_KEY_NOTIFY, bit(NOTIFY_KEY_UPDATED), 0x0200, WATCH_INFO_ID),
                entry(WATCH_TYPE_KEY_NOTIFY, bit(NOTIFY_KEY_REVOKED), 0, 0),
            ]),
            "0",
        ),
        (update(0), "0"),
        (Op::Revoke { key: KeyRef::Slot(0) }, "0"),
        (read(0, 4096), "[key.revoked(k0, tag=1)]"),
    ]);
}
