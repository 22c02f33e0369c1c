//! Progress of a sync on the command line: bars on a terminal, a few plain lines when
//! stderr is a file or a pipe (logs stay readable).

use datacollect_sync::manager::{Progress, ProgressFn};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};

pub fn reporter() -> ProgressFn {
    if crate::output::diagnostics_are_json() {
        // Logs are JSON lines: progress goes to the log (info), not as plain lines.
        return Arc::new(|p| match p {
            Progress::Push { done, total } => tracing::info!(done, total, "push progress"),
            Progress::Pull { pulled } => tracing::info!(pulled, "pull progress"),
        });
    }
    if std::io::stderr().is_terminal() {
        let bar: Mutex<Option<(bool, ProgressBar)>> = Mutex::new(None);
        Arc::new(move |p| {
            let Ok(mut slot) = bar.lock() else { return };
            let push = matches!(p, Progress::Push { .. });
            if slot.as_ref().is_none_or(|(was_push, _)| *was_push != push) {
                if let Some((_, old)) = slot.take() {
                    old.finish();
                }
                let b = match p {
                    Progress::Push { total, .. } => ProgressBar::new(total).with_style(
                        ProgressStyle::with_template(
                            "push {bar:40} {pos}/{len} events ({per_sec})",
                        )
                        .expect("valid template"),
                    ),
                    Progress::Pull { .. } => ProgressBar::new_spinner().with_style(
                        ProgressStyle::with_template("pull {spinner} {pos} events ({per_sec})")
                            .expect("valid template"),
                    ),
                };
                *slot = Some((push, b));
            }
            if let Some((_, b)) = slot.as_ref() {
                match p {
                    Progress::Push { done, .. } => b.set_position(done),
                    Progress::Pull { pulled } => b.set_position(pulled),
                }
            }
        })
    } else {
        let last_tenth = Mutex::new(None::<u64>);
        Arc::new(move |p| match p {
            Progress::Push { done, total } => {
                let tenth = done * 10 / total.max(1);
                if let Ok(mut last) = last_tenth.lock() {
                    if *last != Some(tenth) {
                        *last = Some(tenth);
                        eprintln!("push: {done}/{total} events");
                    }
                }
            }
            Progress::Pull { pulled } => eprintln!("pull: {pulled} events"),
        })
    }
}
