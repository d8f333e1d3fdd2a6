//! Where a credential may be sent: over https, or over plain http only to a host whose
//! traffic never leaves the machine (the sandbox). One rule for every configured URL, the
//! Shopify and Google endpoints, key files' `token_uri` and bulk files, checked by config
//! validation and again by each client before it sends. Pure: nothing here does IO.

/// `localhost`, or an address in 127.0.0.0/8 or `::1` (brackets allowed): a host whose
/// traffic never leaves the machine.
pub fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Whether a bearer token, client secret or refresh token may be sent to `url`: over
/// `https`, or over plain `http` only to a loopback host (the sandbox), so a secret never
/// crosses a network in clear text. The reason is a phrase for the caller's message.
pub fn check_transport(url: &url::Url) -> Result<(), &'static str> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if url.host_str().is_some_and(is_loopback) => Ok(()),
        "http" => Err(
            "must be https (plain http only to a loopback address: 127.0.0.1, ::1 or localhost)",
        ),
        _ => Err("must be an https URL"),
    }
}
