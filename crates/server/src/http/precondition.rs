//! ETags and `If-Match`: strong ETags `"<version>"`; weak ones never match.

use axum::http::{HeaderMap, HeaderValue, header};
use shared_kernel::Error;
use storage_domain::{Precondition, Version};

/// The strong ETag of a version.
pub fn etag(version: Version) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("\"0\""))
}

/// Reads every `If-Match` header into a precondition.
///
/// # Errors
/// `INVALID_INPUT` when a header is not `*` or a list of entity tags (RFC 9110 §8.8.3).
pub fn if_match(headers: &HeaderMap) -> Result<Precondition, Error> {
    let mut values = headers.get_all(header::IF_MATCH).iter().peekable();
    if values.peek().is_none() {
        return Ok(Precondition::None);
    }
    let mut versions = Vec::new();
    for value in values {
        let text = value.to_str().map_err(|_| malformed())?.trim();
        if text == "*" {
            return Ok(Precondition::AnyLive);
        }
        parse_tag_list(text, &mut versions)?;
    }
    Ok(Precondition::OneOf(versions))
}

fn malformed() -> Error {
    Error::invalid_input("If-Match must be `*` or a list of entity tags such as \"3\"")
        .at("/If-Match")
}

/// Parses `#entity-tag`, keeping the strong tags that name a version.
fn parse_tag_list(text: &str, versions: &mut Vec<Version>) -> Result<(), Error> {
    let mut rest = text;
    let mut tags = 0;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            break;
        }
        let weak = rest.starts_with("W/");
        if weak {
            rest = &rest[2..];
        }
        let inner = rest.strip_prefix('"').ok_or_else(malformed)?;
        let end = inner.find('"').ok_or_else(malformed)?;
        let opaque = &inner[..end];
        // etagc = %x21 / %x23-7E / obs-text
        if !opaque
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x7e).contains(&b) || b >= 0x80)
        {
            return Err(malformed());
        }
        rest = &inner[end + 1..];
        if !(rest.is_empty() || rest.starts_with([' ', '\t', ','])) {
            return Err(malformed());
        }
        tags += 1;
        if !weak
            && let Some(version) = opaque
                .parse::<u64>()
                .ok()
                .and_then(|n| Version::new(n).ok())
        {
            versions.push(version);
        }
    }
    if tags == 0 {
        return Err(malformed());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(values: &[&str]) -> Result<Precondition, Error> {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(
                header::IF_MATCH,
                HeaderValue::from_str(value).unwrap_or_else(|e| panic!("{e}")),
            );
        }
        if_match(&headers)
    }

    fn v(n: u64) -> Version {
        Version::new(n).unwrap_or(Version::FIRST)
    }

    #[test]
    fn absent_star_and_lists_are_understood() {
        assert_eq!(parse(&[]).ok(), Some(Precondition::None));
        assert_eq!(parse(&["*"]).ok(), Some(Precondition::AnyLive));
        assert_eq!(
            parse(&["\"3\""]).ok(),
            Some(Precondition::OneOf(vec![v(3)]))
        );
        assert_eq!(
            parse(&["\"3\", \"5\"", "\"7\""]).ok(),
            Some(Precondition::OneOf(vec![v(3), v(5), v(7)]))
        );
    }

    #[test]
    fn weak_and_foreign_tags_never_match_but_are_not_errors() {
        assert_eq!(parse(&["W/\"3\""]).ok(), Some(Precondition::OneOf(vec![])));
        assert_eq!(
            parse(&["\"abc\", W/\"1\", \"2\""]).ok(),
            Some(Precondition::OneOf(vec![v(2)]))
        );
        assert_eq!(parse(&["\"0\""]).ok(), Some(Precondition::OneOf(vec![])));
    }

    #[test]
    fn malformed_headers_are_rejected() {
        for bad in ["3", "\"3", "W/3", "\"3\"x", "", "\"a\"b\""] {
            assert!(parse(&[bad]).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn etags_are_strong_and_quoted() {
        assert_eq!(etag(v(12)), HeaderValue::from_static("\"12\""));
    }
}
