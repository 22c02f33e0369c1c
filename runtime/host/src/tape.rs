//! Recording and replaying an adapter's HTTP exchanges, for `dcsync test-adapter
//! --record/--replay`: an author runs the conformance checks against a real system once,
//! keeps the recording, and replays it offline in their own CI, deterministically.
//!
//! What is kept is the request **as the adapter built it** — secret references stand as
//! `{{secret:NAME}}`, never a value — and the answer as the server sent it. An answer that
//! held a secret value is never kept (the call was stopped anyway). On replay every host
//! rule still applies (origins, placements, caps, the scan of the answer); only the network
//! is replaced: each request takes the first unused recorded exchange equal to it, and a
//! request the recording does not have is refused.

use crate::secrets::find_references;
use base64::Engine as _;
use dcsync_contract::wit::http::{Method, Request};
use serde::{Deserialize, Serialize};
use std::sync::Mutex;

/// A request as the adapter built it, with references written without their run token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TapeRequest {
    /// `GET`, `POST`…
    pub method: String,
    /// The URL.
    pub url: String,
    /// Headers, in the adapter's order.
    pub headers: Vec<(String, String)>,
    /// Basic auth `(user, password)`, as references or plain values.
    pub basic_auth: Option<(String, String)>,
    /// The body, base64.
    pub body: Option<String>,
}

/// An answer as the server sent it (before decoding).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TapeAnswer {
    /// The status.
    pub status: u16,
    /// Headers, `content-encoding` included.
    pub headers: Vec<(String, String)>,
    /// The body, base64.
    pub body: String,
}

/// One exchange.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exchange {
    /// What was sent.
    pub request: TapeRequest,
    /// What came back.
    pub answer: TapeAnswer,
}

/// A recording being made, or one being replayed.
#[derive(Debug)]
pub enum Tape {
    /// Exchanges go to the network and are kept.
    Record(Mutex<Vec<Exchange>>),
    /// Whatever the request, the next of these answers; none left, refused (a fake
    /// network for fuzzing an adapter's handling of answers).
    Script(Mutex<std::collections::VecDeque<TapeAnswer>>),
    /// Exchanges come from here; `used` marks those taken.
    Replay {
        /// The recording.
        exchanges: Vec<Exchange>,
        /// Which were taken.
        used: Mutex<Vec<bool>>,
    },
}

impl Tape {
    /// A new, empty recording.
    pub fn record() -> Self {
        Tape::Record(Mutex::new(Vec::new()))
    }

    /// A recording to replay.
    pub fn replay(exchanges: Vec<Exchange>) -> Self {
        let used = Mutex::new(vec![false; exchanges.len()]);
        Tape::Replay { exchanges, used }
    }

    /// Answers served in order, whatever the requests.
    pub fn answers(answers: Vec<TapeAnswer>) -> Self {
        Tape::Script(Mutex::new(answers.into()))
    }

    /// The exchanges recorded so far (or the ones being replayed).
    pub fn exchanges(&self) -> Vec<Exchange> {
        match self {
            Tape::Record(list) => list.lock().map(|l| l.clone()).unwrap_or_default(),
            Tape::Replay { exchanges, .. } => exchanges.clone(),
            Tape::Script(_) => Vec::new(),
        }
    }

    /// How many recorded exchanges a replay did not use.
    pub fn unused(&self) -> usize {
        match self {
            Tape::Record(_) => 0,
            Tape::Script(left) => left.lock().map(|l| l.len()).unwrap_or(0),
            Tape::Replay { used, .. } => used
                .lock()
                .map(|u| u.iter().filter(|u| !**u).count())
                .unwrap_or(0),
        }
    }

    /// Keep an exchange (recording only).
    pub(crate) fn keep(&self, request: TapeRequest, answer: TapeAnswer) {
        if let Tape::Record(list) = self {
            if let Ok(mut l) = list.lock() {
                l.push(Exchange { request, answer });
            }
        }
    }

    /// The recorded answer to `request`, if replaying (`Some(None)`: not in the recording).
    pub(crate) fn answer_for(&self, request: &TapeRequest) -> Option<Option<TapeAnswer>> {
        let (exchanges, used) = match self {
            Tape::Record(_) => return None,
            Tape::Script(left) => return Some(left.lock().ok()?.pop_front()),
            Tape::Replay { exchanges, used } => (exchanges, used),
        };
        let mut used = used.lock().ok()?;
        let found = exchanges
            .iter()
            .enumerate()
            .find(|(i, e)| !used[*i] && e.request == *request)
            .map(|(i, e)| (i, e.answer.clone()));
        Some(found.map(|(i, answer)| {
            used[i] = true;
            answer
        }))
    }
}

/// `text` with each reference of this run written `{{secret:NAME}}`.
fn without_token(text: &str, token: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for r in find_references(text, token) {
        out.push_str(&text[at..r.span.start]);
        out.push_str(&format!("{{{{secret:{}}}}}", r.name));
        at = r.span.end;
    }
    out.push_str(&text[at..]);
    out
}

impl TapeRequest {
    /// The adapter's request, references without their run token.
    pub(crate) fn of(req: &Request, token: &str) -> Self {
        let method = match req.method {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        };
        TapeRequest {
            method: method.into(),
            url: req.url.clone(),
            headers: req
                .headers
                .iter()
                .map(|(n, v)| (n.to_ascii_lowercase(), without_token(v, token)))
                .collect(),
            basic_auth: req.basic_auth.as_ref().map(|b| {
                (
                    without_token(&b.username, token),
                    without_token(&b.password, token),
                )
            }),
            body: req.body.as_ref().map(|b| {
                let text = String::from_utf8_lossy(b);
                base64::engine::general_purpose::STANDARD.encode(without_token(&text, token))
            }),
        }
    }
}

impl TapeAnswer {
    /// The raw body.
    pub(crate) fn body_bytes(&self) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD
            .decode(&self.body)
            .unwrap_or_default()
    }
}
