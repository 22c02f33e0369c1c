//! Finding secret references in text an adapter built.

/// One `{{secret:…}}` in a text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    /// Byte range of the whole reference in the text.
    pub span: std::ops::Range<usize>,
    /// The secret's name.
    pub name: String,
    /// Whether it carries this run's token (a reference the host handed out), rather than
    /// being a 1.0-style `{{secret:NAME}}` or text that looks like one.
    pub handed_out: bool,
}

/// Every reference in `text`, in order. `token` is this run's reference token.
pub fn find_references(text: &str, token: &str) -> Vec<Reference> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = text[from..].find("{{secret:") {
        let start = from + at;
        let inner_start = start + "{{secret:".len();
        let Some(len) = text[inner_start..].find("}}") else {
            break;
        };
        let inner = &text[inner_start..inner_start + len];
        let end = inner_start + len + 2;
        let (name, handed_out) = match inner.rsplit_once(':') {
            Some((name, t)) if t == token && !token.is_empty() => (name, true),
            _ => (inner, false),
        };
        out.push(Reference {
            span: start..end,
            name: name.to_string(),
            handed_out,
        });
        from = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_with_and_without_the_run_token() {
        let refs = find_references(
            "a {{secret:apiKey:T1}} b {{secret:pw}} c {{secret:x:T2}}",
            "T1",
        );
        assert_eq!(refs.len(), 3);
        assert_eq!(
            (refs[0].name.as_str(), refs[0].handed_out),
            ("apiKey", true)
        );
        assert_eq!((refs[1].name.as_str(), refs[1].handed_out), ("pw", false));
        assert_eq!((refs[2].name.as_str(), refs[2].handed_out), ("x:T2", false));
        assert_eq!(
            &"a {{secret:apiKey:T1}} b"[refs[0].span.clone()],
            "{{secret:apiKey:T1}}"
        );
    }

    #[test]
    fn an_unterminated_reference_is_no_reference() {
        assert!(find_references("{{secret:abc", "T").is_empty());
    }
}
