//! The tool only ever sends traffic to this machine: every address it is given must be on
//! loopback (`127.0.0.0/8`, `::1` or `localhost`), and anything else is refused before a single
//! request leaves. Redirects and proxies are off in the HTTP client for the same reason.

use std::net::IpAddr;

/// Whether a host name or literal address is on loopback.
pub fn is_loopback_host(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if bare.eq_ignore_ascii_case("localhost") {
        return true;
    }
    bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Checks that `base_url` is plain HTTP to a loopback host and returns it without a trailing
/// slash.
///
/// # Errors
/// When the URL does not parse, is not `http`, or names any other host.
pub fn check_base_url(base_url: &str) -> Result<String, String> {
    let url =
        reqwest::Url::parse(base_url).map_err(|e| format!("bad --base-url `{base_url}`: {e}"))?;
    if url.scheme() != "http" {
        return Err(format!(
            "--base-url `{base_url}`: only plain http to loopback is supported"
        ));
    }
    let host = url.host_str().unwrap_or_default();
    if !is_loopback_host(host) {
        return Err(format!(
            "--base-url `{base_url}`: `{host}` is not a loopback address; this tool only loads \
             servers on this machine (127.0.0.0/8, ::1, localhost)"
        ));
    }
    Ok(base_url.trim_end_matches('/').to_owned())
}

/// A reqwest client that can only reach what it is pointed at: no proxies, no redirects.
///
/// # Errors
/// When the client cannot be built.
pub fn http_client(pool: usize) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .tcp_nodelay(true)
        .pool_max_idle_per_host(pool)
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_addresses_are_accepted() {
        for url in [
            "http://127.0.0.1:8080",
            "http://127.3.4.5:1/",
            "http://localhost:9000",
            "http://[::1]:8080",
        ] {
            assert!(check_base_url(url).is_ok(), "{url}");
        }
        assert_eq!(
            check_base_url("http://127.0.0.1:8080/").as_deref(),
            Ok("http://127.0.0.1:8080")
        );
    }

    #[test]
    fn every_other_address_is_refused() {
        for url in [
            "http://10.0.0.1:8080",
            "http://192.168.1.2",
            "http://example.com",
            "http://8.8.8.8",
            "https://127.0.0.1:8443",
            "http://[::2]:80",
            "not a url",
        ] {
            assert!(check_base_url(url).is_err(), "{url}");
        }
    }
}
