//! The LSM hook points the notification queue calls (security/security.c):
//! `security_watch_key()` when a watch is set on a key and
//! `security_post_notification()` for every record posted through a watch
//! (removal records bypass it). Upstream, Smack implements the post hook
//! and SELinux and Smack the watch hooks; the model's policy is a small
//! table a scenario can set, so both hook points can be shown to act.

use crate::errno::{Errno, KResult};
use crate::kernel::{Cred, Cx};
use crate::uapi::WatchNotification;

/// What the modelled LSM refuses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LsmPolicy {
    /// Key descriptions that may not be watched (`EACCES`).
    pub deny_watch_key: Vec<String>,
    /// `(type, subtype)` pairs that may not be posted to any queue.
    pub deny_post: Vec<(u32, u8)>,
    /// Event sources (uids) whose events may not reach watchers of another uid
    /// (Smack's rule: the watcher must be able to read what the source wrote).
    pub isolate_uids: bool,
}

/// Models `security_watch_key()`.
pub fn security_watch_key(cx: &Cx<'_>, description: &str) -> KResult<()> {
    if cx.k.config.lsm.deny_watch_key.iter().any(|d| d == description) {
        return Err(Errno::EACCES);
    }
    Ok(())
}

/// Models `security_watch_devices()` (ver #1): the policy of this model
/// refuses no device watch.
pub fn security_watch_devices(_cx: &Cx<'_>) -> KResult<()> {
    Ok(())
}

/// Models `security_post_notification(w_cred, cred, n)`: `w_cred` is the
/// watcher's, `cred` the event source's.
pub fn security_post_notification(cx: &Cx<'_>, w_cred: &Cred, cred: &Cred, n: &[u8]) -> KResult<()> {
    let p = &cx.k.config.lsm;
    if let Some(h) = WatchNotification::decode(n) {
        if p.deny_post.contains(&(h.type_, h.subtype)) {
            return Err(Errno::EACCES);
        }
    }
    if p.isolate_uids && w_cred.uid != cred.uid {
        return Err(Errno::EACCES);
    }
    Ok(())
}
