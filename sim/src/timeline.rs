//! Timelines: one column per thread, one row per step, each step naming
//! the kernel function and the lock (or the syscall, or what the queue
//! saw). Drawn from a run's trace.

use std::fmt::Write as _;

use wqsim_model::conc::{Program, actor_tid};
use wqsim_model::trace::{Event, Tid};

/// Column width, in characters.
const WIDTH: usize = 40;

/// One cell's text for `e`, or `None` for events a timeline skips.
fn cell(e: &Event) -> Option<String> {
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
    })
}

fn fit(s: &str) -> String {
    if s.chars().count() < WIDTH {
        format!("{s:<w$}", w = WIDTH)
    } else {
        let t: String = s.chars().take(WIDTH - 2).collect();
        format!("{t}~ ")
    }
}

/// Draw `events` (with the thread of each) for `program`: the setup and
/// driver are thread 1, actor `i` is [`actor_tid`]`(i)`.
pub fn render(program: &Program, events: &[(Tid, Event)]) -> String {
    let mut tids: Vec<(Tid, String)> = vec![(1, "setup/driver".into())];
    for (i, a) in program.actors.iter().enumerate() {
        tids.push((actor_tid(i), a.name.clone()));
    }
    for (t, _) in events {
        if !tids.iter().any(|(x, _)| x == t) {
            tids.push((*t, format!("thread {t}")));
        }
    }
    let mut s = String::new();
    let _ = write!(s, "{:>5}  ", "step");
    for (t, name) in &tids {
        s += &fit(&format!("t{t} {name}"));
    }
    s = s.trim_end().to_string();
    s.push('\n');
    let mut step = 0;
    for (t, e) in events {
        let Some(text) = cell(e) else { continue };
        step += 1;
        let col = tids.iter().position(|(x, _)| x == t).unwrap_or(0);
        let mut line = format!("{step:>5}  ");
        for _ in 0..col {
            line += &" ".repeat(WIDTH);
        }
        line += &fit(&text);
        s += line.trim_end();
        s.push('\n');
    }
    s
}
