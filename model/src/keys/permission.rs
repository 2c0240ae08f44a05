//! Models security/keys/permission.c: `key_task_permission()` and
//! `key_validate()`.

use crate::errno::{Errno, KResult};
use crate::heap::Id;
use crate::kernel::{Cred, Cx};

use super::{KEY_FLAG_DEAD, KEY_FLAG_INVALIDATED, KEY_FLAG_REVOKED, Key};

/// `enum key_need_perm`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyNeedPerm {
    Unspecified,
    View,
    Read,
    Write,
    Search,
    Link,
    Setattr,
    /// Unlinking does not use the key's permissions at all.
    Unlink,
}

/// Models `key_task_permission()`: the owner uses the user bits, a group
/// member the group bits, anyone else the other bits; a possessor adds the
/// possessor bits; then the LSM's `security_key_permission()`.
///
/// Mirrors security/keys/permission.c key_task_permission() of 6.12, lines 26-91, fp b671a2ee6dc7cfed.
pub fn key_task_permission(cx: &Cx<'_>, key: Id<Key>, possessed: bool, cred: &Cred, need: KeyNeedPerm) -> KResult<()> {
    crate::trace::reached("key_task_permission");
    let mask = match need {
        KeyNeedPerm::View => 0x01,
        KeyNeedPerm::Read => 0x02,
        KeyNeedPerm::Write => 0x04,
        KeyNeedPerm::Search => 0x08,
        KeyNeedPerm::Link => 0x10,
        KeyNeedPerm::Setattr => 0x20,
        KeyNeedPerm::Unlink | KeyNeedPerm::Unspecified => return Ok(()),
    };
    let k = cx.k.keys.get(key);
    let perm = k.perm.get();
    let mut kperm = if k.uid.get() == cred.uid {
        perm >> 16
    } else if k.gid.get() != u32::MAX && perm & crate::uapi::KEY_GRP_ALL != 0 && k.gid.get() == cred.gid {
        perm >> 8
    } else {
        perm
    };
    if possessed {
        kperm |= perm >> 24;
    }
    kperm &= 0x3f;
    if kperm & mask != mask {
        return Err(Errno::EACCES);
    }
    // KEY_NEED_{READ,SEARCH,VIEW} ask the LSM for reading, the others
    // for writing.
    let write = matches!(need, KeyNeedPerm::Write | KeyNeedPerm::Link | KeyNeedPerm::Setattr);
    crate::lsm::security_key_permission(cx, cred, &k.security, write)
}

/// Models `key_validate()`: revoked or dead keys are `EKEYREVOKED`,
/// invalidated ones `ENOKEY`, expired ones `EKEYEXPIRED`.
///
/// Mirrors security/keys/permission.c key_validate() of 6.12, lines 102-122, fp 13cd08ab254705aa.
pub fn key_validate(cx: &Cx<'_>, key: Id<Key>) -> KResult<()> {
    crate::trace::reached("key_validate");
    let k = cx.k.keys.get(key);
    if k.test_flag(KEY_FLAG_INVALIDATED) {
        return Err(Errno::ENOKEY);
    }
    if k.test_flag(KEY_FLAG_REVOKED) || k.test_flag(KEY_FLAG_DEAD) {
        return Err(Errno::EKEYREVOKED);
    }
    if super::key_expired(cx, key) {
        return Err(Errno::EKEYEXPIRED);
    }
    Ok(())
}
