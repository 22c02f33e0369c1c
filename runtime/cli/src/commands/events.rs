//! `dcsync events import`: FormSubmission JSON lines into the store as local events,
//! streamed: read and committed in chunks of at most [`CHUNK_EVENTS`] events or
//! [`CHUNK_BYTES`] bytes, each in its own short transaction (a sync runs meanwhile), so
//! memory stays bounded whatever the file's size. A bad line stops the import with its
//! number and how far it got; importing the same file again completes it (stored events
//! are recognised).

use crate::context::{open_store, StoreArg};
use crate::output::print_json;
use anyhow::{bail, Context as _, Result};
use datacollect_sync::store::LocalAppend;
use datacollect_sync::{EventApplier, EventStore, FormSubmission};
use std::io::{BufRead, IsTerminal};
use std::sync::Arc;

/// Events per transaction.
pub const CHUNK_EVENTS: usize = 500;
/// Bytes of event text per transaction (a chunk is flushed when either is reached).
pub const CHUNK_BYTES: usize = 8 << 20;
/// The default largest event accepted, bytes of its JSON line.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 10 << 20;

/// One line, or a line over the size limit (its content skipped, not held).
pub enum Line {
    /// The line, without its newline.
    Text(Vec<u8>),
    /// A line of this many bytes, over the limit.
    TooLong(usize),
}

/// Read the next line, holding at most `max` bytes of it.
pub fn next_line(
    r: &mut dyn BufRead,
    max: usize,
    buf: &mut Vec<u8>,
) -> std::io::Result<Option<Line>> {
    buf.clear();
    let mut total = 0usize;
    loop {
        let available = r.fill_buf()?;
        if available.is_empty() {
            return Ok(if total == 0 {
                None
            } else if total > max {
                Some(Line::TooLong(total))
            } else {
                Some(Line::Text(std::mem::take(buf)))
            });
        }
        let (chunk, done) = match available.iter().position(|b| *b == b'\n') {
            Some(i) => (&available[..i], Some(i + 1)),
            None => (available, None),
        };
        total += chunk.len();
        if total <= max {
            buf.extend_from_slice(chunk);
        }
        let used = done.unwrap_or(chunk.len());
        r.consume(used);
        if done.is_some() {
            return Ok(Some(if total > max {
                Line::TooLong(total)
            } else {
                Line::Text(std::mem::take(buf))
            }));
        }
    }
}

/// One line of an import file: an event, nothing (a blank line), or why it is refused.
pub fn parse_line(text: &[u8]) -> Result<Option<FormSubmission>, String> {
    if text.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let text = text.strip_prefix("\u{feff}".as_bytes()).unwrap_or(text);
    serde_json::from_slice::<FormSubmission>(text)
        .map_err(|e| format!("not a FormSubmission: {e}"))
        .and_then(|e| e.validate().map(|()| Some(e)))
}

/// What the import did so far.
#[derive(Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Totals {
    events: u64,
    lines_committed: u64,
    #[serde(flatten)]
    stored: LocalAppend,
}

struct Importer<'p> {
    /// Opened (created) with the first events: a file whose first line is bad leaves no
    /// store behind.
    path: &'p StoreArg,
    store: Option<Arc<dyn EventStore>>,
    chunk: Vec<FormSubmission>,
    chunk_bytes: usize,
    totals: Totals,
    progress: Option<indicatif::ProgressBar>,
}

impl Importer<'_> {
    /// Commit the chunk read so far; `through` is the number of its last line.
    fn flush(&mut self, through: u64) -> Result<()> {
        if !self.chunk.is_empty() {
            if self.store.is_none() {
                self.store = Some(open_store(self.path)?);
            }
            let store = self.store.as_ref().expect("opened above");
            let out = store.append_local(&self.chunk, &EventApplier::new())?;
            self.totals.events += self.chunk.len() as u64;
            self.totals.stored.outcome += out.outcome;
            self.totals.stored.conflicts.extend(out.conflicts);
            self.chunk.clear();
            self.chunk_bytes = 0;
        }
        self.totals.lines_committed = through;
        if let Some(p) = &self.progress {
            p.set_position(through);
        }
        Ok(())
    }
}

pub fn import(store: &StoreArg, path: &str, json: bool, max_event_bytes: usize) -> Result<i32> {
    let mut reader: Box<dyn BufRead> = if path == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let file = std::fs::File::open(path).with_context(|| format!("cannot read {path}"))?;
        Box::new(std::io::BufReader::with_capacity(1 << 16, file))
    };
    let progress = std::io::stderr().is_terminal().then(|| {
        let p = indicatif::ProgressBar::new_spinner();
        p.set_style(
            indicatif::ProgressStyle::with_template("import {spinner} {pos} lines ({per_sec})")
                .expect("valid template"),
        );
        p
    });
    match store {
        StoreArg::Sqlite(file) if !file.exists() => {
            // Refuse a path we could not create before reading anything.
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(file)
                .and_then(|_| std::fs::remove_file(file))
                .with_context(|| format!("cannot create the store {}", file.display()))?;
        }
        _ => drop(open_store(store)?),
    }
    let mut im = Importer {
        path: store,
        store: None,
        chunk: Vec::new(),
        chunk_bytes: 0,
        totals: Totals::default(),
        progress,
    };
    let mut buf = Vec::new();
    let mut number = 0u64;
    let stop = |im: &Importer, number: u64, why: String| -> anyhow::Error {
        anyhow::anyhow!(
            "{path}:{number}: {why}\n{} line(s) before it were committed ({} events); fix line {number} and import the file again: events already stored are recognised",
            im.totals.lines_committed,
            im.totals.events
        )
    };
    while let Some(line) = next_line(reader.as_mut(), max_event_bytes, &mut buf)? {
        number += 1;
        let text = match line {
            Line::TooLong(len) => {
                im.flush(number - 1)?;
                return Err(stop(&im, number, format!(
                    "the event is {len} bytes, over the {max_event_bytes}-byte limit (--max-event-bytes)"
                )));
            }
            Line::Text(t) => t,
        };
        let event = match parse_line(&text) {
            Ok(Some(e)) => e,
            Ok(None) => continue,
            Err(why) => {
                im.flush(number - 1)?;
                return Err(stop(&im, number, why));
            }
        };
        im.chunk_bytes += text.len();
        im.chunk.push(event);
        if im.chunk.len() >= CHUNK_EVENTS || im.chunk_bytes >= CHUNK_BYTES {
            im.flush(number)?;
        }
    }
    im.flush(number)?;
    if let Some(p) = &im.progress {
        p.finish_and_clear();
    }
    let t = &im.totals;
    let conflicts = t.stored.conflicts.len();
    if json {
        print_json(t)?;
    } else {
        let o = &t.stored.outcome;
        println!(
            "imported {} events: {} applied, {} already stored, {} quarantined, {conflicts} conflicting",
            t.events, o.applied, o.duplicates, o.quarantined
        );
        for g in t.stored.conflicts.iter().take(20) {
            println!("conflict: {g} is stored with other content; the stored event was kept");
        }
        if conflicts > 20 {
            println!("… and {} more (--json lists them all)", conflicts - 20);
        }
    }
    if conflicts > 0 {
        bail!("{conflicts} event(s) have the guid of a stored event but other content; the stored ones were kept");
    }
    Ok(0)
}
