//! How the demo prints: per function, the event, before, what it decided, after.
use serde_json::Value;

pub fn heading(function: &str, what: &str) {
    println!("\n━━━ {function} ━━━ {what}");
}

pub fn event(path: &str, note: &str) {
    println!(
        "  event    {path}{}",
        if note.is_empty() {
            String::new()
        } else {
            format!(" ({note})")
        }
    );
}

pub fn before(what: &str) {
    println!("  before   {what}");
}

pub fn after(what: &str) {
    println!("  after    {what}");
}

pub fn note(what: &str) {
    println!("  note     {what}");
}

/// The decision lines the function logged, then its response, indented (at most `max`
/// lines of it).
pub fn decided((response, decisions): &(Value, Vec<String>), max: usize) {
    for line in decisions {
        println!("  logged   {line}");
    }
    let text = serde_json::to_string_pretty(response).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    println!("  decided");
    for line in lines.iter().take(max) {
        println!("           {line}");
    }
    if lines.len() > max {
        println!("           … ({} more lines)", lines.len() - max);
    }
}
