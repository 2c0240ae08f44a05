//! Checks on record streams the real kernel produced while several threads
//! ran a scenario at once. The kernel's internal state is out of reach, so
//! the checks work from what userspace saw: every operation with its
//! outcome, and every record read from each queue. They are the stream
//! side of the model's oracle:
//!
//! - torn: a read returned bytes that are not whole records (the
//!   read-whole-or-error rule of `pipe_read()` / `post_one_notification()`);
//! - duplicated: more records of one kind than operations that post it
//!   (`__post_watch_notification()` posts once per watch per event);
//! - unaccounted: a record no operation posts, a removal for a watch that
//!   was never added, a loss record when nothing was lost;
//! - unreported loss: fewer records than posts, with no loss record
//!   (`watch_queue_set_loss` / the fabricated record of `pipe_read()`);
//!   checked where nothing else may drop a post (no filter, no unwatch,
//!   no close, no resize, no key destruction).

use std::collections::BTreeMap;
use std::fmt;

use wqsim_model::api::{Canon, End, FdRef, IoctlReq, KeyRef, Op, Outcome, slot_name};
use wqsim_model::uapi::*;

/// What one iteration's check covered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Checked {
    /// Records read and checked.
    pub records: u32,
    /// Queues whose loss accounting was checked (nothing else could drop
    /// a post, and the drain emptied them).
    pub loss_checked: u32,
}

/// What one iteration's streams broke.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamViolation {
    Torn { pipe: u8, bytes: String },
    Duplicated { pipe: u8, record: String, seen: u32, most: u32 },
    Unaccounted { pipe: u8, record: String },
    UnreportedLoss { pipe: u8, posted: u32, delivered: u32 },
}

impl fmt::Display for StreamViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamViolation::Torn { pipe, bytes } => write!(f, "torn: p{pipe} returned {bytes}, not whole records"),
            StreamViolation::Duplicated { pipe, record, seen, most } => {
                write!(f, "duplicated: p{pipe} read {record} {seen} times; operations post it at most {most}")
            }
            StreamViolation::Unaccounted { pipe, record } => {
                write!(f, "unaccounted: p{pipe} read {record}, which no operation posts")
            }
            StreamViolation::UnreportedLoss { pipe, posted, delivered } => {
                write!(f, "unreported loss: {posted} records posted to p{pipe}, {delivered} read, and no meta.loss")
            }
        }
    }
}

fn key_name(k: KeyRef) -> String {
    match k {
        KeyRef::Slot(n) => slot_name(n),
        KeyRef::Session => SESSION_NAME_.to_string(),
        KeyRef::User => USER_NAME_.to_string(),
        KeyRef::Raw(n) => format!("{:08x}", n as u32),
    }
}
const SESSION_NAME_: &str = wqsim_model::api::SESSION_NAME;
const USER_NAME_: &str = wqsim_model::api::USER_NAME;

/// A key event without its tag: (key, subtype, aux).
type Event = (String, u8, String);

/// The key events a successful operation posts, each at most once, and
/// whether the operation posts exactly those (so losses can be counted).
fn events_of(op: &Op, out: &Outcome, known: &[String]) -> (Vec<Event>, bool) {
    let ok = matches!(out, Outcome::Ok(_) | Outcome::Key(_));
    if !ok {
        return (vec![], true);
    }
    let one = |k: KeyRef, st: u8| (key_name(k), st, "0".to_string());
    match op {
        Op::Update { key, .. } => (vec![one(*key, NOTIFY_KEY_UPDATED)], true),
        Op::Revoke { key } => (vec![one(*key, NOTIFY_KEY_REVOKED)], true),
        Op::Invalidate { key } => (vec![one(*key, NOTIFY_KEY_INVALIDATED)], true),
        Op::Clear { keyring } => (vec![one(*keyring, NOTIFY_KEY_CLEARED)], true),
        Op::Restrict { keyring: key, .. }
        | Op::Chown { key, .. }
        | Op::Setperm { key, .. }
        | Op::SetTimeout { key, .. } => (vec![one(*key, NOTIFY_KEY_SETATTR)], true),
        Op::Link { key, keyring } => (vec![(key_name(*keyring), NOTIFY_KEY_LINKED, key_name(*key))], true),
        Op::Unlink { key, keyring } => (vec![(key_name(*keyring), NOTIFY_KEY_UNLINKED, key_name(*key))], true),
        Op::AddKey { keyring, .. } => {
            // A new key is linked; an existing one is updated.
            let Outcome::Key(name) = out else { return (vec![], false) };
            if known.contains(name) {
                (vec![(name.clone(), NOTIFY_KEY_UPDATED, "0".to_string())], false)
            } else {
                (vec![(key_name(*keyring), NOTIFY_KEY_LINKED, name.clone())], false)
            }
        }
        Op::Instantiate { key, keyring, .. } | Op::Reject { key, keyring, .. } => {
            let mut v = vec![(key_name(*key), NOTIFY_KEY_INSTANTIATED, String::new())];
            if let Some(r) = keyring {
                v.push((key_name(*r), NOTIFY_KEY_LINKED, key_name(*key)));
            }
            (v, false)
        }
        _ => (vec![], true),
    }
}

/// Whether an operation may make a post vanish without a loss record
/// (or end a watch): the loss count is not checked where one ran.
fn may_drop_posts(op: &Op) -> bool {
    matches!(
        op,
        Op::Close { .. }
            | Op::Ioctl { req: IoctlReq::SetSize(_) | IoctlReq::SetFilter(_), .. }
            | Op::Unlink { .. }
            | Op::Clear { .. }
            | Op::Invalidate { .. }
            | Op::Revoke { .. }
            | Op::KeyGc
            | Op::RcuBarrier
            | Op::Sleep { .. }
            | Op::FailNth { .. }
    ) || matches!(op, Op::WatchKey { fd: FdRef::Raw(_), .. })
}

/// Check one iteration: the first `setup_len` operations of `ran` ran in
/// order before the threads started; the rest are the threads' operations
/// (each thread's in its order), then the reads that drained the queues;
/// `drained` lists the pipes that drain emptied.
pub fn check(ran: &[(Op, Outcome)], setup_len: usize, drained: &[u8]) -> Result<Checked, StreamViolation> {
    let mut checked = Checked::default();
    // Watches: pipe -> (key name, tag).
    let mut watches: BTreeMap<u8, Vec<(String, u8)>> = BTreeMap::new();
    let mut notification_pipes = Vec::new();
    let mut posted: BTreeMap<Event, u32> = BTreeMap::new();
    // Records each queue must get (or count as lost), where that is known.
    let mut expected: BTreeMap<u8, u32> = BTreeMap::new();
    let mut exact = true;
    let mut known: Vec<String> = Vec::new();
    for (i, (op, out)) in ran.iter().enumerate() {
        let in_setup = i < setup_len;
        match (op, out) {
            (Op::Pipe2 { pipe, flags }, Outcome::Ok(_)) if flags & O_NOTIFICATION_PIPE != 0 => {
                notification_pipes.push(*pipe)
            }
            (Op::WatchKey { key, fd: FdRef::End(p, End::Read), tag }, Outcome::Ok(_)) => {
                watches.entry(*p).or_default().push((key_name(*key), *tag as u8))
            }
            _ => {}
        }
        let (evs, ex) = events_of(op, out, &known);
        if let Outcome::Key(name) = out {
            known.push(name.clone());
        }
        if in_setup {
            exact &= !matches!(op, Op::Ioctl { req: IoctlReq::SetFilter(Some(_)), .. });
        } else {
            exact &= ex && !may_drop_posts(op) && !matches!(op, Op::WatchKey { .. });
        }
        for e in evs {
            for (p, ws) in &watches {
                *expected.entry(*p).or_default() += ws.iter().filter(|(k, _)| *k == e.0).count() as u32;
            }
            *posted.entry(e).or_default() += 1;
        }
    }

    for &p in &notification_pipes {
        let ws = watches.get(&p).cloned().unwrap_or_default();
        let mut read: BTreeMap<String, u32> = BTreeMap::new();
        let mut delivered = 0u32;
        let mut lost = false;
        for (op, out) in ran {
            let (Op::Read { fd: FdRef::End(q, End::Read), .. }, Outcome::Records(recs)) = (op, out) else {
                continue;
            };
            if *q != p {
                continue;
            }
            for r in recs {
                checked.records += 1;
                let most = match r {
                    Canon::Other(b) => return Err(StreamViolation::Torn { pipe: p, bytes: format!("{b:02x?}") }),
                    // The real kernel has no device sources: such a record
                    // is as foreign as a torn one.
                    Canon::Block { .. } | Canon::Usb { .. } | Canon::Mount { .. } | Canon::Sb { .. } => {
                        return Err(StreamViolation::Torn { pipe: p, bytes: r.to_string() });
                    }
                    Canon::Loss => {
                        lost = true;
                        continue;
                    }
                    Canon::Removal { tag, id } => {
                        let n = ws.iter().filter(|(k, t)| t == tag && id.as_ref().is_none_or(|i| i == k)).count();
                        n as u32
                    }
                    Canon::Key { key, subtype, aux, tag } => {
                        delivered += 1;
                        let watched = ws.iter().filter(|(k, t)| k == key && t == tag).count() as u32;
                        let times: u32 = posted
                            .iter()
                            .filter(|((k, s, a), _)| {
                                k == key && s == subtype && (a == aux || *s == NOTIFY_KEY_INSTANTIATED)
                            })
                            .map(|(_, n)| *n)
                            .sum();
                        watched * times
                    }
                };
                let text = r.to_string();
                let seen = read.entry(text.clone()).or_default();
                *seen += 1;
                if most == 0 {
                    return Err(StreamViolation::Unaccounted { pipe: p, record: text });
                }
                if *seen > most {
                    return Err(StreamViolation::Duplicated { pipe: p, record: text, seen: *seen, most });
                }
            }
        }
        if exact && drained.contains(&p) {
            let to_pipe = expected.get(&p).copied().unwrap_or(0);
            checked.loss_checked += 1;
            if delivered < to_pipe && !lost {
                return Err(StreamViolation::UnreportedLoss { pipe: p, posted: to_pipe, delivered });
            }
            if lost && delivered >= to_pipe {
                return Err(StreamViolation::Unaccounted { pipe: p, record: Canon::Loss.to_string() });
            }
        }
    }
    Ok(checked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wqsim_model::api::ops::*;

    fn updated(k: &str, tag: u8) -> Canon {
        Canon::Key { key: k.to_string(), subtype: NOTIFY_KEY_UPDATED, aux: "0".to_string(), tag }
    }

    /// Two updates of a watched key, read as `got`, then a drain.
    fn run(got: Vec<Canon>) -> Result<(), StreamViolation> {
        let ran = vec![
            (notification_pipe(0), Outcome::Ok(0)),
            (user_key(0, "a"), Outcome::Key("k0".to_string())),
            (watch(0, 0, 7), Outcome::Ok(0)),
            (update(0), Outcome::Ok(0)),
            (update(0), Outcome::Ok(0)),
            (read(0, 4096), Outcome::Records(got)),
        ];
        check(&ran, 3, &[0]).map(|_| ())
    }

    #[test]
    fn whole_streams_hold() {
        assert_eq!(run(vec![updated("k0", 7), updated("k0", 7)]), Ok(()));
        // The drained queue's loss accounting was checked.
        let ran = vec![
            (notification_pipe(0), Outcome::Ok(0)),
            (user_key(0, "a"), Outcome::Key("k0".to_string())),
            (watch(0, 0, 7), Outcome::Ok(0)),
            (update(0), Outcome::Ok(0)),
            (read(0, 4096), Outcome::Records(vec![updated("k0", 7)])),
        ];
        assert_eq!(check(&ran, 3, &[0]), Ok(Checked { records: 1, loss_checked: 1 }));
        assert_eq!(check(&ran, 3, &[]), Ok(Checked { records: 1, loss_checked: 0 }));
        assert_eq!(run(vec![updated("k0", 7), Canon::Loss]), Ok(()));
    }

    #[test]
    fn each_check_fires() {
        assert_eq!(
            run(vec![updated("k0", 7), Canon::Other(vec![1, 2])]),
            Err(StreamViolation::Torn { pipe: 0, bytes: "[01, 02]".to_string() })
        );
        assert_eq!(
            run(vec![updated("k0", 7), updated("k0", 7), updated("k0", 7)]),
            Err(StreamViolation::Duplicated {
                pipe: 0,
                record: "key.updated(k0, tag=7)".to_string(),
                seen: 3,
                most: 2
            })
        );
        assert_eq!(
            run(vec![updated("k0", 8)]),
            Err(StreamViolation::Unaccounted { pipe: 0, record: "key.updated(k0, tag=8)".to_string() })
        );
        assert_eq!(
            run(vec![Canon::Removal { tag: 7, id: Some("k1".to_string()) }]),
            Err(StreamViolation::Unaccounted { pipe: 0, record: "meta.removal(k1, tag=7)".to_string() })
        );
        assert_eq!(
            run(vec![updated("k0", 7)]),
            Err(StreamViolation::UnreportedLoss { pipe: 0, posted: 2, delivered: 1 })
        );
        assert_eq!(
            run(vec![updated("k0", 7), updated("k0", 7), Canon::Loss]),
            Err(StreamViolation::Unaccounted { pipe: 0, record: "meta.loss".to_string() })
        );
    }
}
