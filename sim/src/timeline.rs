//! Timelines: one column per thread, one row per step, each step naming
//! the kernel function and the lock (or the syscall, or what the queue
//! saw). Drawn from a run's trace.

use std::fmt::Write as _;

use wqsim_model::conc::{Program, actor_tid};
use wqsim_model::trace::{Event, Tid};

/// The narrowest column, in characters.
const WIDTH: usize = 40;

/// The object a use-after-free in `events` names, if one does: its free
/// is marked (1) and the use (2).
fn used_after_free(events: &[(Tid, Event)]) -> Option<&str> {
    events.iter().rev().find_map(|(_, e)| match e {
        Event::Used { obj, .. } => Some(obj.as_str()),
        _ => None,
    })
}

/// One cell's text for `e`, or `None` for events a timeline skips;
/// `marked` is the object whose free is point (1) of a use-after-free.
fn cell(e: &Event, marked: Option<&str>) -> Option<String> {
    Some(match e {
        Event::SyscallEnter { what, .. } => format!("> {what}"),
        Event::SyscallExit { ret, .. } => format!("< {ret}"),
        Event::Lock { name, acquire: true, func, .. } => format!("lock {name} ({func})"),
        Event::Lock { name, acquire: false, .. } => format!("unlock {name}"),
        Event::Post { queued: Some((slot, note)), .. } => format!("post: slot {slot}, note {note}"),
        Event::Post { queued: None, .. } => "post: lost (loss flag)".into(),
        Event::Filtered { passed: false, .. } => "filtered out".into(),
        Event::Filtered { .. } => return None,
        Event::FilterSet { filter, .. } => format!("filter set: {filter:?}"),
        Event::Consumed { loss, .. } => format!("slot consumed{}", if *loss { " (loss)" } else { "" }),
        Event::LossFabricated { .. } => "loss record fabricated".into(),
        Event::NoteReleased { note, .. } => format!("note {note} released (set_bit)"),
        Event::ReadReturned { .. } => return None,
        Event::WatchAdded { wqueue, tag, .. } => format!("watch added: wq{wqueue} tag {tag}"),
        Event::WatchRemoved { wqueue, all, .. } => {
            format!("watch removed: wq{wqueue}{}", if *all { " (all)" } else { "" })
        }
        Event::QueueCleared { wqueue } => format!("watch_queue_clear wq{wqueue}"),
        Event::ObjectDestroyed { id } => format!("object {id:#x} destroyed"),
        Event::Warn { func, what } => format!("WARN {func}: {what}"),
        Event::Freed { obj, how, func, at, .. } if marked == Some(obj.as_str()) => {
            format!("(1) freed here: {obj} by {how} in {func} at {at}")
        }
        Event::Freed { obj, how, func, .. } => format!("freed {obj} ({how} in {func})"),
        Event::Used { obj, func, at, .. } => format!("(2) used here: {obj} in {func} at {at}"),
    })
}

/// `s` padded to `width` characters (never cut: every kernel function is
/// named in full).
fn fit(s: &str, width: usize) -> String {
    format!("{s:<width$}")
}

/// The lanes of a timeline: the setup and driver as thread 1, actor `i`
/// as [`actor_tid`]`(i)`, then any other thread the events name.
fn lanes(program: &Program, events: &[(Tid, Event)]) -> Vec<(Tid, String)> {
    let mut tids: Vec<(Tid, String)> = vec![(1, "setup/driver".into())];
    for (i, a) in program.actors.iter().enumerate() {
        tids.push((actor_tid(i), a.name.clone()));
    }
    for (t, _) in events {
        if !tids.iter().any(|(x, _)| x == t) {
            tids.push((*t, format!("thread {t}")));
        }
    }
    tids
}

/// Draw `events` (with the thread of each) for `program`, a column per
/// lane ([`lanes`]).
pub fn render(program: &Program, events: &[(Tid, Event)]) -> String {
    let tids = lanes(program, events);
    // Each column as wide as its widest cell (at least WIDTH), so no name
    // is cut; a free and a use after it are marked (1) and (2).
    let col_of = |t: &Tid| tids.iter().position(|(x, _)| x == t).unwrap_or(0);
    let marked = used_after_free(events);
    let mut widths: Vec<usize> =
        tids.iter().map(|(t, n)| (format!("t{t} {n}").chars().count() + 2).max(WIDTH)).collect();
    for (t, e) in events {
        if let Some(text) = cell(e, marked) {
            let c = col_of(t);
            widths[c] = widths[c].max(text.chars().count() + 2);
        }
    }
    let mut s = String::new();
    let _ = write!(s, "{:>5}  ", "step");
    for (i, (t, name)) in tids.iter().enumerate() {
        s += &fit(&format!("t{t} {name}"), widths[i]);
    }
    s = s.trim_end().to_string();
    s.push('\n');
    let mut step = 0;
    for (t, e) in events {
        let Some(text) = cell(e, marked) else { continue };
        step += 1;
        let col = col_of(t);
        let mut line = format!("{step:>5}  ");
        for w in &widths[..col] {
            line += &" ".repeat(*w);
        }
        line += &fit(&text, widths[col]);
        s += line.trim_end();
        s.push('\n');
    }
    s
}

/// A JSON string literal.
pub(crate) fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out += "\\\"",
            '\\' => out += "\\\\",
            '\n' => out += "\\n",
            c if (c as u32) < 0x20 => out += &format!("\\u{:04x}", c as u32),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The timeline in Chrome's Trace Event Format (JSON), which Perfetto's
/// UI (ui.perfetto.dev) and `chrome://tracing` open: one lane per thread
/// (process 1, thread id as in the text timeline), each syscall a
/// complete span from its entry to its return, each lock held an async
/// span from acquire to release (locks need not nest), every other event
/// an instant; one step is one microsecond. A violation is a global
/// instant after the last step. Deterministic: the same run gives the
/// same bytes.
pub fn chrome_trace(program: &Program, events: &[(Tid, Event)], violation: Option<&str>) -> String {
    let names = lanes(program, events);
    let mut out: Vec<String> = Vec::new();
    out.push(r#"{"name":"process_name","ph":"M","pid":1,"tid":1,"args":{"name":"wqsim model"}}"#.to_string());
    for (t, n) in &names {
        out.push(format!(
            r#"{{"name":"thread_name","ph":"M","pid":1,"tid":{t},"args":{{"name":{}}}}}"#,
            json_str(&format!("t{t} {n}"))
        ));
    }
    // Open syscalls per thread (entry step, text); open locks per (thread, lock): async id.
    let marked = used_after_free(events);
    let mut open_call: std::collections::BTreeMap<Tid, (u64, String)> = Default::default();
    let mut open_lock: std::collections::BTreeMap<(Tid, &'static str), u64> = Default::default();
    let mut next_id = 1u64;
    let mut ts = 0u64;
    for (t, e) in events {
        ts += 1;
        match e {
            Event::SyscallEnter { what, .. } => {
                open_call.insert(*t, (ts, what.clone()));
            }
            Event::SyscallExit { ret, .. } => {
                let (start, what) = open_call.remove(t).unwrap_or((ts, "syscall".into()));
                out.push(format!(
                    r#"{{"name":{},"cat":"syscall","ph":"X","ts":{start},"dur":{},"pid":1,"tid":{t},"args":{{"returned":{}}}}}"#,
                    json_str(&what),
                    ts - start,
                    json_str(ret)
                ));
            }
            Event::Lock { name, acquire: true, func, .. } => {
                let id = next_id;
                next_id += 1;
                open_lock.insert((*t, name), id);
                out.push(format!(
                    r#"{{"name":{},"cat":"lock","ph":"b","id":{id},"ts":{ts},"pid":1,"tid":{t},"args":{{"function":{}}}}}"#,
                    json_str(name),
                    json_str(func)
                ));
            }
            Event::Lock { name, acquire: false, .. } => {
                if let Some(id) = open_lock.remove(&(*t, name)) {
                    out.push(format!(
                        r#"{{"name":{},"cat":"lock","ph":"e","id":{id},"ts":{ts},"pid":1,"tid":{t}}}"#,
                        json_str(name)
                    ));
                }
            }
            other => {
                if let Some(text) = cell(other, marked) {
                    out.push(format!(
                        r#"{{"name":{},"cat":"queue","ph":"i","s":"t","ts":{ts},"pid":1,"tid":{t}}}"#,
                        json_str(&text)
                    ));
                }
            }
        }
    }
    // Whatever was still open when the run ended (a violation mid-call).
    for (t, (start, what)) in open_call {
        out.push(format!(
            r#"{{"name":{},"cat":"syscall","ph":"X","ts":{start},"dur":{},"pid":1,"tid":{t},"args":{{"returned":"(did not return)"}}}}"#,
            json_str(&what),
            ts + 1 - start
        ));
    }
    for ((t, name), id) in open_lock {
        out.push(format!(
            r#"{{"name":{},"cat":"lock","ph":"e","id":{id},"ts":{},"pid":1,"tid":{t}}}"#,
            json_str(name),
            ts + 1
        ));
    }
    if let Some(v) = violation {
        out.push(format!(
            r#"{{"name":{},"cat":"violation","ph":"i","s":"g","ts":{},"pid":1,"tid":1}}"#,
            json_str(v),
            ts + 1
        ));
    }
    format!("{{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n{}\n]}}\n", out.join(",\n"))
}
