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
        Event::PostLabels { watcher, origin, .. } => format!("lsm: {origin} -> {watcher}"),
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
        Event::Ring { .. } | Event::PollBegin { .. } | Event::PollEnd { .. } | Event::PollFileGone { .. } => {
            return None;
        }
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

/// The timeline in Chrome's Trace Event Format (JSON), which Perfetto's
/// UI (ui.perfetto.dev) and `chrome://tracing` open: one lane per thread
/// (process 1, thread id as in the text timeline), each syscall a
/// complete span from its entry to its return, each lock held an async
/// span from acquire to release (locks need not nest), every other event
/// an instant; one step is one microsecond. A violation is a global
/// instant after the last step. Deterministic: the same run gives the
/// same bytes.
pub fn chrome_trace(program: &Program, events: &[(Tid, Event)], violation: Option<&str>) -> String {
    use serde_json::{Value, json};
    let names = lanes(program, events);
    let mut out: Vec<Value> = Vec::new();
    out.push(json!({"name": "process_name", "ph": "M", "pid": 1, "tid": 1, "args": {"name": "wqsim model"}}));
    for (t, n) in &names {
        out.push(json!({"name": "thread_name", "ph": "M", "pid": 1, "tid": t, "args": {"name": format!("t{t} {n}")}}));
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
                out.push(json!({
                    "name": what, "cat": "syscall", "ph": "X", "ts": start, "dur": ts - start,
                    "pid": 1, "tid": t, "args": {"returned": ret}
                }));
            }
            Event::Lock { name, acquire: true, func, .. } => {
                let id = next_id;
                next_id += 1;
                open_lock.insert((*t, name), id);
                out.push(json!({
                    "name": name, "cat": "lock", "ph": "b", "id": id, "ts": ts,
                    "pid": 1, "tid": t, "args": {"function": func}
                }));
            }
            Event::Lock { name, acquire: false, .. } => {
                if let Some(id) = open_lock.remove(&(*t, name)) {
                    out.push(json!({"name": name, "cat": "lock", "ph": "e", "id": id, "ts": ts, "pid": 1, "tid": t}));
                }
            }
            other => {
                if let Some(text) = cell(other, marked) {
                    out.push(json!({"name": text, "cat": "queue", "ph": "i", "s": "t", "ts": ts, "pid": 1, "tid": t}));
                }
            }
        }
    }
    // Whatever was still open when the run ended (a violation mid-call).
    for (t, (start, what)) in open_call {
        out.push(json!({
            "name": what, "cat": "syscall", "ph": "X", "ts": start, "dur": ts + 1 - start,
            "pid": 1, "tid": t, "args": {"returned": "(did not return)"}
        }));
    }
    for ((t, name), id) in open_lock {
        out.push(json!({"name": name, "cat": "lock", "ph": "e", "id": id, "ts": ts + 1, "pid": 1, "tid": t}));
    }
    if let Some(v) = violation {
        out.push(json!({"name": v, "cat": "violation", "ph": "i", "s": "g", "ts": ts + 1, "pid": 1, "tid": 1}));
    }
    // One event a line, so two traces diff line by line.
    let lines: Vec<String> = out.iter().map(Value::to_string).collect();
    format!("{{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n{}\n]}}\n", lines.join(",\n"))
}

/// XML text: `&`, `<`, `>` and `"` escaped.
fn xml(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The timeline as an SVG picture: a lane per thread (the columns of
/// [`render`]), a row per step with the step's text in its thread's lane;
/// each syscall a shaded box from its entry to its return; each lock a
/// bar at the lane's left edge over the steps it is held (hover: the lock
/// and the function that took it); the free and the use of a
/// use-after-free in red; and, when the run failed, the violation as the
/// last row across every lane. Deterministic: the same run gives the same
/// bytes.
pub fn svg(program: &Program, events: &[(Tid, Event)], violation: Option<&str>) -> String {
    const ROW: f64 = 18.0;
    const CHAR: f64 = 6.6;
    const STEP_W: f64 = 48.0;
    const TOP: f64 = 30.0;
    let tids = lanes(program, events);
    let marked = used_after_free(events);
    let col_of = |t: &Tid| tids.iter().position(|(x, _)| x == t).unwrap_or(0);
    // The rows: the events a timeline shows, as in `render`.
    let rows: Vec<(usize, &Event, String)> =
        events.iter().filter_map(|(t, e)| cell(e, marked).map(|text| (col_of(t), e, text))).collect();
    let mut widths: Vec<f64> = tids
        .iter()
        .map(|(t, n)| (format!("t{t} {n}").chars().count() as f64 * CHAR + 24.0).max(WIDTH as f64 * CHAR))
        .collect();
    for (c, _, text) in &rows {
        widths[*c] = widths[*c].max(text.chars().count() as f64 * CHAR + 24.0);
    }
    let x_of: Vec<f64> = widths.iter().scan(STEP_W, |x, w| Some(std::mem::replace(x, *x + w))).collect();
    let total_w = STEP_W + widths.iter().sum::<f64>();
    let n_rows = rows.len() + usize::from(violation.is_some());
    let total_h = TOP + n_rows as f64 * ROW + 12.0;
    let y_of = |row: usize| TOP + row as f64 * ROW;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{total_w:.0}\" height=\"{total_h:.0}\" font-family=\"monospace\" font-size=\"11\">"
    );
    s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
    // Lanes: alternate shading, the header with each thread's name.
    for (i, (t, name)) in tids.iter().enumerate() {
        let fill = if i % 2 == 0 { "#f7f7f7" } else { "#ffffff" };
        let _ = writeln!(
            s,
            "<rect class=\"lane\" x=\"{:.0}\" y=\"0\" width=\"{:.0}\" height=\"{total_h:.0}\" fill=\"{fill}\"/>",
            x_of[i], widths[i]
        );
        let _ = writeln!(
            s,
            "<text x=\"{:.0}\" y=\"18\" font-weight=\"bold\">{}</text>",
            x_of[i] + 12.0,
            xml(&format!("t{t} {name}"))
        );
    }
    let _ = writeln!(s, "<text x=\"6\" y=\"18\" font-weight=\"bold\">step</text>");
    // Spans first, so the text is drawn over them: syscalls and locks.
    let mut open_call: std::collections::BTreeMap<usize, usize> = Default::default();
    let mut open_lock: Vec<(usize, &'static str, &'static str, usize)> = Vec::new();
    let mut spans = String::new();
    let lock_bar = |spans: &mut String, col: usize, depth: usize, name: &str, func: &str, from: usize, to: usize| {
        let x = x_of[col] + 2.0 + depth as f64 * 3.0;
        let _ = writeln!(
            spans,
            "<rect class=\"lock\" x=\"{x:.0}\" y=\"{:.0}\" width=\"3\" height=\"{:.0}\" fill=\"#3b6fb6\"><title>{} held (taken in {})</title></rect>",
            y_of(from) + 2.0,
            (to - from) as f64 * ROW,
            xml(name),
            xml(func)
        );
    };
    for (row, (col, e, _)) in rows.iter().enumerate() {
        match e {
            Event::SyscallEnter { .. } => {
                open_call.insert(*col, row);
            }
            Event::SyscallExit { .. } => {
                let from = open_call.remove(col).unwrap_or(row);
                let _ = writeln!(
                    spans,
                    "<rect class=\"syscall\" x=\"{:.0}\" y=\"{:.0}\" width=\"{:.0}\" height=\"{:.0}\" fill=\"#e3ecd8\" stroke=\"#9bb57c\"/>",
                    x_of[*col] + 8.0,
                    y_of(from) + 4.0,
                    widths[*col] - 12.0,
                    (row + 1 - from) as f64 * ROW
                );
            }
            Event::Lock { name, acquire: true, func, .. } => open_lock.push((*col, name, func, row)),
            Event::Lock { name, acquire: false, .. } => {
                if let Some(i) = open_lock.iter().rposition(|(c, n, _, _)| c == col && n == name) {
                    let (c, n, f, from) = open_lock.remove(i);
                    let depth = open_lock.iter().filter(|(x, ..)| *x == c).count();
                    lock_bar(&mut spans, c, depth, n, f, from, row + 1);
                }
            }
            _ => {}
        }
    }
    // Whatever was still open when the run ended.
    for (col, from) in open_call {
        let _ = writeln!(
            spans,
            "<rect class=\"syscall\" x=\"{:.0}\" y=\"{:.0}\" width=\"{:.0}\" height=\"{:.0}\" fill=\"#e3ecd8\" stroke=\"#9bb57c\" stroke-dasharray=\"4 2\"/>",
            x_of[col] + 8.0,
            y_of(from) + 4.0,
            widths[col] - 12.0,
            (rows.len() - from) as f64 * ROW
        );
    }
    for (depth, (c, n, f, from)) in open_lock.iter().enumerate() {
        lock_bar(&mut spans, *c, depth, n, f, *from, rows.len());
    }
    s += &spans;
    // The steps.
    for (row, (col, e, text)) in rows.iter().enumerate() {
        let y = y_of(row) + ROW - 3.0;
        let _ = writeln!(s, "<text x=\"6\" y=\"{y:.0}\" fill=\"#777777\">{}</text>", row + 1);
        let mark =
            matches!(e, Event::Used { .. }) || (matches!(e, Event::Freed { obj, .. } if marked == Some(obj.as_str())));
        let style = if mark { " fill=\"#c0392b\" font-weight=\"bold\"" } else { "" };
        let _ = writeln!(s, "<text x=\"{:.0}\" y=\"{y:.0}\"{style}>{}</text>", x_of[*col] + 12.0, xml(text));
    }
    // The violation, across every lane.
    if let Some(v) = violation {
        let y = y_of(rows.len());
        let _ = writeln!(
            s,
            "<rect class=\"violation\" x=\"0\" y=\"{:.0}\" width=\"{total_w:.0}\" height=\"{ROW:.0}\" fill=\"#fbe3e1\" stroke=\"#c0392b\"/>",
            y + 2.0
        );
        let _ = writeln!(
            s,
            "<text x=\"6\" y=\"{:.0}\" fill=\"#c0392b\" font-weight=\"bold\">{}</text>",
            y + ROW - 3.0,
            xml(v)
        );
    }
    s += "</svg>\n";
    s
}
