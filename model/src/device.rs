//! Models the device event sources of the patch series' ver #1 ("pipe:
//! Keyrings, Block and USB notifications", `variant v1`), never merged:
//! the global device watch list and `watch_devices()` (drivers/base/watch.c),
//! `post_block_notification()` (block/blk-core.c) and
//! `post_usb_notification()` (drivers/usb/core/devio.c).
//!
//! Every device record is posted on the one global list with ID 0, so a
//! queue holds at most one device watch, and the list is never destroyed:
//! device watches end only by `watch_devices(fd, -1, 0)` or the pipe's
//! close.

use crate::bugs::Bug;
use crate::errno::{Errno, KResult};
use crate::heap::Id;
use crate::invariant::{Inv, fail};
use crate::kernel::{Cred, Cx, Kernel, Variant};
use crate::lsm;
use crate::rcu::RcuList;
use crate::sync::SpinLock;
use crate::trace::kfn;
use crate::uapi::*;
use crate::watch_queue::{
    __post_watch_notification, WatchList, add_watch_to_object, get_watch_queue, init_watch, put_watch_queue,
    remove_watch_from_object,
};

/// The device list's watch ID: `u64 id = 0; /* Might want to allow dev#
/// here. */` in `watch_devices()` and both posters.
pub const DEVICE_WATCH_ID: u64 = 0;

/// The static `device_wlist` with `init_watch_list()`'s fields (no
/// `release_watch`): made once at boot.
pub fn device_wlist_init(k: &Kernel) -> Id<WatchList> {
    let wl = WatchList { watchers: RcuList::default(), release_watch: None, lock: SpinLock::new("wlist->lock") };
    k.heap.static_in(&k.wlists, "device_wlist", wl)
}

/// Models `SYSCALL_DEFINE3(watch_devices, int, watch_fd, int, watch_id,
/// unsigned int, flags)`, drivers/base/watch.c, ver #1: `watch_id`
/// 0..=255 adds this queue's watch on the global device list with that
/// tag (`EBUSY` if it has one); -1 removes it with a removal record
/// (`EBADSLT` if it has none). Any flag, or a tag out of range, is
/// `EINVAL`; the variants without the syscall give `ENOSYS`.
///
/// Adds and removes under `device_watchers_lock`.
///
/// Mirrors drivers/base/watch.c sys_watch_devices() of series v1 (never merged: no source to fingerprint).
pub fn sys_watch_devices(cx: &Cx<'_>, watch_fd: i32, watch_id: i32, flags: u32) -> KResult<i64> {
    let Some(wlist) = cx.k.device_wlist else { return Err(Errno::ENOSYS) };
    let _f = kfn("sys_watch_devices");
    if !(-1..=0xff).contains(&watch_id) || flags != 0 {
        return Err(Errno::EINVAL);
    }
    let wqueue = get_watch_queue(cx, watch_fd)?;
    let ret = if watch_id >= 0 {
        match init_watch(cx, wqueue, DEVICE_WATCH_ID, (watch_id as u32) << WATCH_INFO_ID__SHIFT) {
            None => Err(Errno::ENOMEM),
            Some(watch) => {
                let r = lsm::security_watch_devices(cx).and_then(|()| {
                    let _g = cx.k.device_watchers_lock.lock();
                    add_watch_to_object(cx, watch, wlist)
                });
                if r.is_err() {
                    cx.k.heap.kfree(crate::heap::Obj::hdr(&cx.k.watches.get(watch)));
                }
                r.map(|()| 0)
            }
        }
    } else {
        let _g = cx.k.device_watchers_lock.lock();
        remove_watch_from_object(cx, wlist, Some(wqueue), DEVICE_WATCH_ID, false).map(|()| 0)
    };
    put_watch_queue(cx, wqueue);
    ret
}

/// Models `post_device_notification(n, id)`, drivers/base/watch.c, ver #1:
/// post on the global list with the system's credentials (`&init_cred`:
/// hardware events have no task behind them).
///
/// Catalog switches here: X2 (on as posted: the walk holds RCU alone, so
/// a post can follow the removal record of the watch it came through;
/// the proposed fix holds `device_watchers_lock` as `watch_devices()`
/// does).
///
/// Mirrors drivers/base/watch.c post_device_notification() of series v1 (never merged: no source to fingerprint).
pub fn post_device_notification(cx: &Cx<'_>, n: &mut [u8], id: u64) {
    let _f = kfn("post_device_notification");
    let init_cred = init_cred(cx.k);
    // BUG(X2): posted without device_watchers_lock.
    let g = (!cx.bug(Bug::X2)).then(|| cx.k.device_watchers_lock.lock());
    __post_watch_notification(cx, cx.k.device_wlist, n, &init_cred, id);
    drop(g);
}

/// `init_cred`: root, the system's credentials, privileged.
fn init_cred(k: &Kernel) -> Cred {
    Cred::new(0, 0, k.user(0), true)
}

/// Models `post_block_notification(subtype, dev, sector)`, block/blk-core.c,
/// ver #1: a `struct block_notification` (`watch_sizeof(n)` = 24 bytes)
/// on the device list. `ENOSYS` where the variant has no device list (the
/// op stands for a block error the driver reports; it is no syscall).
///
/// Mirrors block/blk-core.c post_block_notification() of series v1 (never merged: no source to fingerprint).
pub fn post_block_notification(cx: &Cx<'_>, subtype: u8, dev: u64, sector: u64) -> KResult<i64> {
    if cx.k.config.variant != Variant::V1 {
        return Err(Errno::ENOSYS);
    }
    let _f = kfn("post_block_notification");
    let mut n = block_notification(subtype, dev, sector);
    post_device_notification(cx, &mut n, DEVICE_WATCH_ID);
    Ok(0)
}

/// Models `post_usb_notification(devname, subtype, error)`,
/// drivers/usb/core/devio.c, ver #1: the name cut to
/// `USB_NOTIFICATION_MAX_NAME_LEN`, the record length
/// `round_up(offsetof(name) + name_len, 8)`, built in an 80-byte record on
/// the stack and posted on the device list. `devname` is the string as
/// the kernel holds it: its bytes and the terminating NUL.
///
/// Catalog switches here: X1 (the name copied with the record's length,
/// found in review of the patch: it reads past the end of `devname`
/// always, and writes past the stack record for names longer than 46
/// bytes).
///
/// Mirrors drivers/usb/core/devio.c post_usb_notification() of series v1 (never merged: no source to fingerprint).
pub fn post_usb_notification(cx: &Cx<'_>, devname: &[u8], subtype: u8, error: u32) -> KResult<i64> {
    if cx.k.config.variant != Variant::V1 {
        return Err(Errno::ENOSYS);
    }
    let _f = kfn("post_usb_notification");
    // The kernel's string: its bytes up to the first NUL, and the NUL.
    let strlen = devname.iter().position(|&b| b == 0).unwrap_or(devname.len());
    let src_size = strlen + 1;
    let name_len = strlen.min(USB_NOTIFICATION_MAX_NAME_LEN);
    let n_len = (USB_NOTIFICATION_NAME_OFFSET + name_len).next_multiple_of(8);

    let mut n = [0u8; USB_NOTIFICATION_BUF_SIZE]; // memset(&n, 0, sizeof(n))
    // BUG(X1): memcpy(n.n.name, devname, n_len) copied the record's
    // length, not the name's.
    let copy = if cx.bug(Bug::X1) { n_len } else { name_len };
    let src: Vec<u8> = devname[..strlen].iter().copied().chain([0]).collect();
    if copy > src_size {
        fail(
            Inv::H3,
            format!(
                "slab-out-of-bounds: memcpy of {copy} bytes from a {src_size}-byte device name in post_usb_notification"
            ),
        );
    }
    if USB_NOTIFICATION_NAME_OFFSET + copy > USB_NOTIFICATION_BUF_SIZE {
        fail(
            Inv::H3,
            format!(
                "stack-out-of-bounds: memcpy of {copy} bytes to offset {USB_NOTIFICATION_NAME_OFFSET} of the \
                 {USB_NOTIFICATION_BUF_SIZE}-byte record in post_usb_notification"
            ),
        );
    }
    n[USB_NOTIFICATION_NAME_OFFSET..USB_NOTIFICATION_NAME_OFFSET + copy].copy_from_slice(&src[..copy]);

    let h = WatchNotification { type_: WATCH_TYPE_USB_NOTIFY, subtype, info: n_len as u32 };
    n[..8].copy_from_slice(&h.encode());
    n[8..12].copy_from_slice(&error.to_le_bytes());
    n[16] = name_len as u8;
    post_device_notification(cx, &mut n[..n_len], DEVICE_WATCH_ID);
    Ok(0)
}
