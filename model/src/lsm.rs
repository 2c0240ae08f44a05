//! The LSM hook points the notification queue calls (security/security.c):
//! `security_watch_key()` when a watch is set on a key, ver #1's
//! `security_watch_devices()` when one is set on the device list, and
//! `security_post_notification()` for every record posted through a watch,
//! given the credentials of the watch's setter (`watch->cred`) and of the
//! event's originator (the poster's, or `init_cred` for hardware events);
//! removal records bypass it, and loss records are made by the reader.
//!
//! Two modules, chosen per scenario, each as the series implemented it:
//!
//! - Smack (`security/smack/smack_lsm.c`): `smack_watch_key()` asks that
//!   the watcher may read the key's label; `smack_post_notification()`
//!   lets meta records through and asks that the originator may write the
//!   watcher's label. Labels and rules as Smack's `smk_access()` has them.
//! - SELinux (`security/selinux/hooks.c`): `selinux_watch_key()` asks for
//!   `key { view }` from the watcher's type to the key's; an allow table
//!   stands for the policy. SELinux implemented no `post_notification`
//!   hook: it cannot stop a record once the watch is set.
//!
//! Neither implemented `watch_devices`. The older knobs (`deny_watch_key`,
//! `deny_post`, `isolate_uids`) stay for the scenarios that use them.

use crate::errno::{Errno, KResult};
use crate::kernel::{Cred, Cx, Mutant};
use crate::uapi::{NOTIFY_KEY_UPDATED, WATCH_TYPE_KEY_NOTIFY, WATCH_TYPE_META, WatchNotification};

/// Smack's floor label `_`: the label of `init_cred`, and of every task
/// and key nobody labelled.
pub const FLOOR_LABEL: &str = "_";

/// The module that rules, with its policy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum LsmModule {
    /// No module: every hook allows.
    #[default]
    None,
    /// Smack with these rules: (subject, object, access letters `rwxat`).
    Smack(Vec<(String, String, String)>),
    /// SELinux with this allow table: (source type, target type, class,
    /// permission).
    Selinux(Vec<(String, String, String, String)>),
}

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
    /// The module and its policy.
    pub module: LsmModule,
}

/// `MAY_READ`, `MAY_WRITE` as Smack's rules spell them.
pub const MAY_READ: char = 'r';
pub const MAY_WRITE: char = 'w';

/// Models Smack's `smk_access()` for one access letter: the star object
/// label `*` allows all; a task labelled `*` gets nothing; the hat `^`
/// subject may read anything; the floor object `_` may be read by anyone;
/// the same label allows all; else a rule `subject object letters` must
/// grant it.
pub fn smk_access(rules: &[(String, String, String)], subject: &str, object: &str, access: char) -> bool {
    if subject == "*" {
        return false;
    }
    if object == "*" || subject == object {
        return true;
    }
    if access == MAY_READ && (subject == "^" || object == FLOOR_LABEL) {
        return true;
    }
    rules.iter().any(|(s, o, a)| s == subject && o == object && a.contains(access))
}

/// Whether the SELinux allow table grants `perm` on `class`.
fn avc_has_perm(
    allow: &[(String, String, String, String)],
    source: &str,
    target: &str,
    class: &str,
    perm: &str,
) -> bool {
    allow.iter().any(|(s, t, c, p)| s == source && t == target && c == class && p == perm)
}

/// Models `security_watch_key()` of a key with this description and
/// label (`key->security`): `smack_watch_key()` (the watcher may read the
/// key) or `selinux_watch_key()` (`key { view }`).
pub fn security_watch_key(cx: &Cx<'_>, description: &str, key_label: &str) -> KResult<()> {
    let p = &cx.k.config.lsm;
    if p.deny_watch_key.iter().any(|d| d == description) {
        return Err(Errno::EACCES);
    }
    let subject = cx.current_cred().label.clone();
    let allowed = match &p.module {
        LsmModule::None => true,
        LsmModule::Smack(rules) => smk_access(rules, &subject, key_label, MAY_READ),
        LsmModule::Selinux(allow) => avc_has_perm(allow, &subject, key_label, "key", "view"),
    };
    if allowed { Ok(()) } else { Err(Errno::EACCES) }
}

/// Models `security_key_permission()` for a key labelled `key_label`:
/// `smack_key_permission()` asks that the task may read the key (view,
/// read, search) or write it (write, link, setattr).
///
/// APPROX: SELinux's `selinux_key_permission()` is taken to allow: the
/// allow table stands for the watch hook's rules alone.
pub fn security_key_permission(cx: &Cx<'_>, cred: &Cred, key_label: &str, write: bool) -> KResult<()> {
    match &cx.k.config.lsm.module {
        LsmModule::Smack(rules) => {
            let access = if write { MAY_WRITE } else { MAY_READ };
            if smk_access(rules, &cred.label, key_label, access) { Ok(()) } else { Err(Errno::EACCES) }
        }
        LsmModule::None | LsmModule::Selinux(_) => Ok(()),
    }
}

/// Models `security_watch_devices()` (ver #1): neither module implemented
/// it, so it refuses nothing.
pub fn security_watch_devices(_cx: &Cx<'_>) -> KResult<()> {
    Ok(())
}

/// Models `security_watch_mount()` (ver #5, "Add security hooks to rule
/// on setting mount and sb watches"): the series added the hook and no
/// module implemented it, so it refuses nothing.
pub fn security_watch_mount(_cx: &Cx<'_>) -> KResult<()> {
    Ok(())
}

/// Models `security_watch_sb()` (ver #5): as `security_watch_mount()`.
pub fn security_watch_sb(_cx: &Cx<'_>) -> KResult<()> {
    Ok(())
}

/// Models `security_post_notification(w_cred, cred, n)`: `w_cred` is the
/// watcher's, `cred` the event's originator's. Smack's hook
/// (`smack_post_notification()`): meta records pass, else the originator
/// must be able to write the watcher's label. SELinux has no such hook.
pub fn security_post_notification(cx: &Cx<'_>, w_cred: &Cred, cred: &Cred, n: &[u8]) -> KResult<()> {
    let p = &cx.k.config.lsm;
    let h = WatchNotification::decode(n);
    if let Some(h) = h {
        if p.deny_post.contains(&(h.type_, h.subtype)) {
            return Err(Errno::EACCES);
        }
    }
    if p.isolate_uids && w_cred.uid != cred.uid {
        return Err(Errno::EACCES);
    }
    if let LsmModule::Smack(rules) = &p.module {
        let meta = h.is_some_and(|h| h.type_ == WATCH_TYPE_META);
        let lets_through = cx.k.config.mutant == Some(Mutant::SmackPostLetsUpdatesThrough)
            && h.is_some_and(|h| h.type_ == WATCH_TYPE_KEY_NOTIFY && h.subtype == NOTIFY_KEY_UPDATED);
        if !meta && !lets_through && !smk_access(rules, &cred.label, &w_cred.label, MAY_WRITE) {
            return Err(Errno::EACCES);
        }
    }
    Ok(())
}

/// Models a write of `label` to `/proc/self/attr/current`
/// (`security_setprocattr()`: `smack_setprocattr()`, or SELinux's for its
/// type): new credentials with the label, committed for the calling task.
/// `EINVAL` with no module, an empty label, one longer than
/// `SMK_LONGLABEL` (255) or with a space, slash or quote; `EPERM` without
/// `CAP_MAC_ADMIN` (the model's privileged task has it).
pub fn security_setprocattr(cx: &Cx<'_>, label: &str) -> KResult<i64> {
    if cx.k.config.lsm.module == LsmModule::None {
        return Err(Errno::EINVAL);
    }
    let old = cx.current_cred();
    if !old.privileged {
        return Err(Errno::EPERM);
    }
    if label.is_empty() || label.len() > 255 || label.chars().any(|c| c.is_whitespace() || "/\"\\'".contains(c)) {
        return Err(Errno::EINVAL);
    }
    let new = Cred { label: label.to_string(), ..old.copy() };
    // commit_creds(): the old credentials stay with whatever else holds
    // them (a watch set under them keeps its label).
    let old = cx.task.cred.replace(crate::sync::Arc::new(new));
    crate::kernel::put_cred(cx, &old);
    Ok(label.len() as i64)
}
