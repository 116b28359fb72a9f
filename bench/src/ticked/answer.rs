//! Where one HTTP/1.1 answer ends, and its status: the open loop's client reads
//! `Content-Length` bodies only, one request per connection at a time.

/// The most headers an answer may carry.
const MAX_HEADERS: usize = 64;

/// A complete answer's parts.
#[derive(Debug, PartialEq)]
pub(super) struct Answer {
    /// The status code.
    pub(super) status: u16,
    /// Where the body lies in the bytes read.
    pub(super) body: std::ops::Range<usize>,
    /// The server will close the connection after this answer.
    pub(super) close: bool,
}

/// What the bytes read so far hold.
#[derive(Debug, PartialEq)]
pub(super) enum Parsed {
    /// Not the whole answer yet.
    Incomplete,
    /// The whole answer (and nothing beyond it).
    Complete(Answer),
}

/// Parses the bytes of one HTTP/1.1 answer read so far.
pub(super) fn parse_answer(bytes: &[u8]) -> Result<Parsed, String> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let head = match response.parse(bytes) {
        Ok(httparse::Status::Complete(head)) => head,
        Ok(httparse::Status::Partial) => return Ok(Parsed::Incomplete),
        Err(e) => return Err(format!("a malformed answer: {e}")),
    };
    let status = response.code.unwrap_or_default();
    let mut length = None;
    let mut close = false;
    for header in response.headers.iter() {
        let value = std::str::from_utf8(header.value).unwrap_or_default().trim();
        if header.name.eq_ignore_ascii_case("content-length") {
            length = Some(
                value
                    .parse::<usize>()
                    .map_err(|_| format!("a bad Content-Length `{value}`"))?,
            );
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(format!(
                "an answer with Transfer-Encoding `{value}`: the open loop's client reads \
                 Content-Length bodies only"
            ));
        } else if header.name.eq_ignore_ascii_case("connection") {
            close = value.eq_ignore_ascii_case("close");
        }
    }
    let length = match (length, status) {
        (Some(length), _) => length,
        (None, 204 | 304) | (None, 100..=199) => 0,
        (None, _) => {
            return Err(format!(
                "an answer ({status}) without Content-Length: the open loop's client cannot \
                 tell where it ends"
            ));
        }
    };
    let end = head + length;
    match bytes.len().cmp(&end) {
        std::cmp::Ordering::Less => Ok(Parsed::Incomplete),
        std::cmp::Ordering::Equal => Ok(Parsed::Complete(Answer {
            status,
            body: head..end,
            close,
        })),
        std::cmp::Ordering::Greater => Err(format!(
            "{} bytes beyond the end of the answer, though one request at a time was sent",
            bytes.len() - end
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &[u8] =
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 7\r\n\r\n{\"a\":1}";

    #[test]
    fn a_whole_answer_gives_its_status_and_body() {
        let parsed = parse_answer(OK).expect("parses");
        let head = OK.len() - 7;
        assert_eq!(
            parsed,
            Parsed::Complete(Answer {
                status: 200,
                body: head..OK.len(),
                close: false
            })
        );
    }

    #[test]
    fn an_answer_cut_anywhere_is_incomplete() {
        for cut in 0..OK.len() {
            assert_eq!(
                parse_answer(&OK[..cut]),
                Ok(Parsed::Incomplete),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn connection_close_and_bodiless_statuses_are_understood() {
        let closing = b"HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
        let Ok(Parsed::Complete(answer)) = parse_answer(closing) else {
            panic!("not complete");
        };
        assert_eq!((answer.status, answer.close), (404, true));
        assert!(answer.body.is_empty());
        let no_content = b"HTTP/1.1 204 No Content\r\n\r\n";
        assert!(matches!(
            parse_answer(no_content),
            Ok(Parsed::Complete(Answer { status: 204, .. }))
        ));
    }

    #[test]
    fn answers_it_cannot_delimit_are_refused_by_name() {
        let chunked =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7\r\n{\"a\":1}\r\n0\r\n\r\n";
        let error = parse_answer(chunked).unwrap_err();
        assert!(error.contains("Transfer-Encoding `chunked`"), "{error}");
        let undelimited = b"HTTP/1.1 200 OK\r\n\r\nhello";
        let error = parse_answer(undelimited).unwrap_err();
        assert!(error.contains("without Content-Length"), "{error}");
        let mut extra = OK.to_vec();
        extra.extend_from_slice(b"HTTP/1.1");
        let error = parse_answer(&extra).unwrap_err();
        assert!(error.contains("8 bytes beyond"), "{error}");
        assert!(parse_answer(b"SMTP ready\r\n\r\n").is_err());
    }
}
