//! Catching what the model reports: run a closure with the panic hook
//! quiet, and get a violation (or any panic's message) back as a value.
//! The runners and explorers use these; the panic text is parsed with
//! [`Violation::parse`].

use crate::invariant::Violation;
use crate::sync::instr;

// Instrumentation, not model state: one flag per OS thread (loom and
// shuttle run all their model threads on the caller's thread).
std::thread_local! {
    static QUIET: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    static LAST_LOCATION: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Where the latest panic caught quietly on this thread was raised
/// (`file:line:col`), for harness-failure reports.
pub fn last_panic_location() -> Option<String> {
    LAST_LOCATION.with(|l| l.borrow().clone())
}

static HOOK: instr::Once = instr::Once::new();

/// Install (once) a panic hook that stays silent for violations caught by
/// [`catch_violation`] and defers to the default hook otherwise.
fn install_quiet_hook() {
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if QUIET.with(|q| q.get()) > 0 {
                let at = info.location().map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
                let _ = LAST_LOCATION.try_with(|l| *l.borrow_mut() = at);
                return;
            }
            default(info)
        }));
    });
}

/// Run `f`; a violation panic becomes `Err(Violation)`. Any other panic is
/// a bug in the model or the harness and is re-raised.
pub fn catch_violation<R>(f: impl FnOnce() -> R) -> Result<R, Violation> {
    install_quiet_hook();
    QUIET.with(|q| q.set(q.get() + 1));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    QUIET.with(|q| q.set(q.get() - 1));
    match r {
        Ok(v) => Ok(v),
        Err(payload) => match panic_text(&*payload).as_deref().and_then(Violation::parse) {
            Some(v) => Err(v),
            None => std::panic::resume_unwind(payload),
        },
    }
}

/// Run `f` with the panic hook quiet; any panic becomes its message.
pub fn catch_panic(f: impl FnOnce()) -> Result<(), String> {
    install_quiet_hook();
    QUIET.with(|q| q.set(q.get() + 1));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    QUIET.with(|q| q.set(q.get() - 1));
    r.map_err(|payload| panic_text(&*payload).unwrap_or_else(|| "a panic without a message".to_string()))
}

/// Run `f` with the panic hook quiet; its value, or any panic's message.
pub fn catch_panic_value<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    let mut out = None;
    catch_panic(|| out = Some(f()))?;
    out.ok_or_else(|| "no value".to_string())
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> Option<String> {
    payload.downcast_ref::<String>().cloned().or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
}
