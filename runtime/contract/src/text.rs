//! Neutralising text that an adapter (or an external system through it) controls before
//! it reaches a terminal or a log line: control characters — ESC and OSC sequences that
//! would drive a terminal, CR and LF that would forge a log line, bidi overrides that
//! would reorder what a reader sees — are shown escaped (`\u{1b}`), not acted on.

use std::borrow::Cow;

fn is_dangerous(c: char) -> bool {
    c.is_control() // C0 (CR, LF, ESC, BEL…), DEL and C1 (CSI, OSC…)
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{061c}')
}

/// `text` with every control character escaped; unchanged (and not copied) when clean.
pub fn neutralise(text: &str) -> String {
    neutralise_cow(text).into_owned()
}

/// [`neutralise`] without a copy when there is nothing to escape.
pub fn neutralise_cow(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_dangerous) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_dangerous(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_and_log_forging_sequences_are_escaped() {
        assert_eq!(
            neutralise("ok \x1b[31mred\x1b[0m"),
            "ok \\u{1b}[31mred\\u{1b}[0m"
        );
        assert_eq!(
            neutralise("a\r\nINFO forged line"),
            "a\\u{d}\\u{a}INFO forged line"
        );
        assert_eq!(neutralise("\x1b]0;title\x07"), "\\u{1b}]0;title\\u{7}");
        assert_eq!(neutralise("x\u{9b}31m"), "x\\u{9b}31m", "C1 CSI");
        assert_eq!(
            neutralise("abc\u{202e}fed"),
            "abc\\u{202e}fed",
            "bidi override"
        );
    }

    #[test]
    fn clean_text_is_untouched() {
        assert!(matches!(
            neutralise_cow("Grâce Banda — 1.0.0"),
            Cow::Borrowed(_)
        ));
    }
}
