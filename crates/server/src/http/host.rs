//! The `Host` header (RFC 9112, section 3.2): an HTTP/1.1 request without one, any request
//! with more than one, or one whose value is not a host and port is answered 400. HTTP/1.0
//! predates the header, so a 1.0 request without it is served.

use axum::extract::Request;
use axum::http::uri::Authority;
use axum::http::{Version, header};
use shared_kernel::Error;

/// Where errors name the header.
const POINTER: &str = "/Host";

/// Checks `request`'s `Host` header.
///
/// # Errors
/// `INVALID_INPUT` naming `Host` when it is missing from an HTTP/1.1 request, repeated, or
/// not a valid host.
pub fn check(request: &Request) -> Result<(), Error> {
    let mut hosts = request.headers().get_all(header::HOST).iter();
    let Some(host) = hosts.next() else {
        return if request.version() == Version::HTTP_10 {
            Ok(())
        } else {
            Err(Error::invalid_input(
                "an HTTP/1.1 request must carry a Host header (RFC 9112, section 3.2)",
            )
            .at(POINTER))
        };
    };
    if hosts.next().is_some() {
        return Err(
            Error::invalid_input("a request must carry one Host header, not several").at(POINTER),
        );
    }
    // Empty is allowed: a target without an authority is sent with an empty Host.
    let valid = host.is_empty()
        || host
            .to_str()
            .ok()
            .filter(|text| !text.contains('@'))
            .and_then(|text| text.parse::<Authority>().ok())
            .is_some();
    if valid {
        Ok(())
    } else {
        Err(Error::invalid_input("the Host header is not a valid host and port").at(POINTER))
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;

    use super::*;

    fn request(version: Version, hosts: &[&str]) -> Request {
        let mut builder = Request::builder().uri("/healthz").version(version);
        for host in hosts {
            builder = builder.header(header::HOST, *host);
        }
        builder
            .body(Body::empty())
            .unwrap_or_else(|e| panic!("request: {e}"))
    }

    #[test]
    fn the_host_header_is_required_once_in_http_1_1_and_optional_in_1_0() {
        let cases: [(Version, &[&str], bool); 8] = [
            (Version::HTTP_11, &["example.com"], true),
            (Version::HTTP_11, &["127.0.0.1:8080"], true),
            (Version::HTTP_11, &["[::1]:8080"], true),
            (Version::HTTP_11, &[""], true),
            (Version::HTTP_10, &[], true),
            (Version::HTTP_11, &[], false),
            (Version::HTTP_11, &["a.example", "b.example"], false),
            (Version::HTTP_11, &["user@example.com"], false),
        ];
        for (version, hosts, accepted) in cases {
            let outcome = check(&request(version, hosts));
            assert_eq!(
                outcome.is_ok(),
                accepted,
                "{version:?} {hosts:?}: {outcome:?}"
            );
            if let Err(error) = outcome {
                assert_eq!(error.field_errors()[0].path, POINTER);
            }
        }
    }
}
