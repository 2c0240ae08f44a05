//! `wqsim trace --json`: the timeline in Chrome's Trace Event Format,
//! which Perfetto and chrome://tracing open. The test checks the export of
//! a W13 failure against the format's rules (the JSON object form with a
//! `traceEvents` array; per event a `name`, a `ph` the format defines,
//! integer `pid` and `tid`, a `ts` on every event but metadata, `dur` on
//! complete events, an `id` and `cat` on async ones, every async begin
//! ended, `s` on instants), and that it shows what a reviewer needs: a
//! lane per thread, the free and the use, and the violation.

#![cfg(not(loom))]

use std::path::Path;

use serde_json::Value;

/// The Trace Event Format's rules for one event.
fn check_event(e: &Value) -> Result<(), String> {
    let o = e.as_object().ok_or("an event is not an object")?;
    let name = o.get("name").and_then(Value::as_str).ok_or("no string `name`")?;
    let ph = o.get("ph").and_then(Value::as_str).ok_or(format!("{name}: no string `ph`"))?;
    const PHASES: [&str; 15] = ["B", "E", "X", "i", "I", "C", "b", "n", "e", "s", "t", "f", "M", "N", "O"];
    if !PHASES.contains(&ph) {
        return Err(format!("{name}: unknown phase {ph:?}"));
    }
    for k in ["pid", "tid"] {
        if !o.get(k).is_some_and(Value::is_u64) {
            return Err(format!("{name}: `{k}` is not an integer"));
        }
    }
    if ph != "M" && !o.get("ts").is_some_and(Value::is_number) {
        return Err(format!("{name}: no numeric `ts`"));
    }
    if ph == "X" && !o.get("dur").is_some_and(Value::is_u64) {
        return Err(format!("{name}: a complete event without `dur`"));
    }
    if matches!(ph, "b" | "e" | "n") && (!o.contains_key("id") || !o.get("cat").is_some_and(Value::is_string)) {
        return Err(format!("{name}: an async event needs `id` and `cat`"));
    }
    if ph == "i" && !o.get("s").and_then(Value::as_str).is_some_and(|s| ["g", "p", "t"].contains(&s)) {
        return Err(format!("{name}: an instant's scope `s` is g, p or t"));
    }
    if ph == "M" && !o.get("args").and_then(|a| a.get("name")).is_some_and(Value::is_string) {
        return Err(format!("{name}: metadata without args.name"));
    }
    Ok(())
}

/// Every rule over a whole trace; its events.
fn check_trace(json: &str) -> Result<Vec<Value>, String> {
    let v: Value = serde_json::from_str(json).map_err(|e| format!("not JSON: {e}"))?;
    let events = v.get("traceEvents").and_then(Value::as_array).ok_or("no `traceEvents` array")?.clone();
    let mut open = std::collections::BTreeMap::new();
    for e in &events {
        check_event(e)?;
        let id = e.get("id").map(|i| i.to_string());
        match e["ph"].as_str() {
            Some("b") => *open.entry(id).or_insert(0) += 1,
            Some("e") => *open.entry(id).or_insert(0) -= 1,
            _ => {}
        }
    }
    if let Some((id, n)) = open.iter().find(|(_, n)| **n != 0) {
        return Err(format!("async span {id:?} begun and ended {n} times apart"));
    }
    Ok(events)
}

#[test]
fn the_export_of_a_w13_failure_is_a_valid_chrome_trace() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let file = root.join("scenarios/teardown/explicit-schedule-w13.wq");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("w13.json");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_wqsim"))
        .args(["trace", &file.display().to_string(), "--json", &out.display().to_string()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let json = std::fs::read_to_string(&out).unwrap();
    let events = check_trace(&json).unwrap_or_else(|e| panic!("{e}\n{json}"));
    let named = |pred: &dyn Fn(&Value) -> bool| events.iter().filter(|e| pred(e)).count();
    // A lane per thread: the driver, the poster and the closer.
    assert_eq!(named(&|e| e["name"] == "thread_name"), 3, "{json}");
    // The syscalls as spans, the locks as async spans.
    assert!(named(&|e| e["ph"] == "X" && e["name"] == "update k0 \"a\"") == 1, "{json}");
    assert!(named(&|e| e["ph"] == "b" && e["name"] == "pipe->rd_wait.lock") >= 1, "{json}");
    // The violation, last.
    let last = events.last().unwrap();
    assert_eq!(last["cat"], "violation", "{json}");
    assert!(last["name"].as_str().unwrap().starts_with("invariant H1 violated: use-after-free"), "{json}");
    // The same run gives the same bytes.
    let again = std::process::Command::new(env!("CARGO_BIN_EXE_wqsim"))
        .args(["trace", &file.display().to_string(), "--json", &out.display().to_string()])
        .output()
        .unwrap();
    assert!(again.status.success());
    assert_eq!(std::fs::read_to_string(&out).unwrap(), json);
}

/// The checker itself fails on what the format forbids.
#[test]
fn the_checker_refuses_broken_traces() {
    assert!(check_trace("[]").is_err());
    assert!(check_trace(r#"{"traceEvents":[{"name":"x","ph":"Q","pid":1,"tid":1,"ts":1}]}"#).is_err());
    assert!(check_trace(r#"{"traceEvents":[{"name":"x","ph":"X","pid":1,"tid":1,"ts":1}]}"#).is_err());
    assert!(
        check_trace(r#"{"traceEvents":[{"name":"l","cat":"lock","ph":"b","id":1,"pid":1,"tid":1,"ts":1}]}"#).is_err()
    );
    assert!(check_trace(r#"{"traceEvents":[{"name":"x","ph":"i","pid":1,"tid":1,"ts":1}]}"#).is_err());
    assert!(check_trace(r#"{"traceEvents":[{"name":"x","ph":"i","s":"t","pid":1,"tid":1,"ts":1}]}"#).is_ok());
}
