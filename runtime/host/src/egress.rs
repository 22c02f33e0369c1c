//! Egress policy: which origins an adapter's requests may reach, and which addresses a
//! name may resolve to. Apart from the HTTP import that applies it, so the rules read in
//! one place.
//!
//! - Origins: the config URL's scheme + host + port, plus what the operator adds per
//!   adapter type in the settings.
//! - Addresses: only public ones (no loopback, private, link-local, CGNAT, unique-local,
//!   and no IPv6 form that embeds such an IPv4 address), unless the config URL itself
//!   targets a non-public address (a local system the operator chose). Checked on IP
//!   literals before sending and on every resolved address at connect time, so a public
//!   name pointed at loopback is refused (DNS rebinding).
//! - No proxy from the environment: `HTTP_PROXY` would resolve names itself and bypass
//!   the address rule.
//!
//! Over 400 lines: the policy is about 370; the rest are its unit tests (every address
//! range and origin rule).

use dcsync_contract::limits::Limits;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// The two HTTP clients the host shares between calls: one that refuses non-public
/// addresses, for configs that target public systems, and one for configs that target
/// local or private systems themselves (the local mock servers).
#[derive(Clone, Debug)]
pub struct HttpClients {
    pub(crate) public_only: reqwest::Client,
    pub(crate) any_address: reqwest::Client,
}

/// Name resolution for the public-only client: a name to its addresses.
pub type Lookup = Arc<
    dyn Fn(String) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send>>
        + Send
        + Sync,
>;

/// The system resolver.
fn system_lookup() -> Lookup {
    Arc::new(|host: String| {
        Box::pin(async move {
            Ok(tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .map(|a| a.ip())
                .collect())
        })
    })
}

/// The public-only resolver's refusal: a name that resolves to no public address.
#[derive(Debug, thiserror::Error)]
#[error(
    "{host} resolves to no public address (loopback, private and link-local addresses are refused)"
)]
pub struct NotPublic {
    /// The name refused.
    pub host: String,
}

impl HttpClients {
    /// Clients that resolve names with the system resolver.
    pub fn new() -> Result<Self, reqwest::Error> {
        Self::with_lookup(system_lookup())
    }

    /// Clients through the operator's `proxy`, if any (never one from the environment).
    pub fn with_proxy(proxy: Option<&str>) -> Result<Self, reqwest::Error> {
        Self::build(system_lookup(), proxy)
    }

    /// Clients whose public-only resolver uses `lookup` (tests point names anywhere).
    pub fn with_lookup(lookup: Lookup) -> Result<Self, reqwest::Error> {
        Self::build(lookup, None)
    }

    fn build(lookup: Lookup, proxy: Option<&str>) -> Result<Self, reqwest::Error> {
        let proxy = proxy.map(reqwest::Proxy::all).transpose()?;
        let builder = || {
            let b = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .pool_max_idle_per_host(8)
                .tcp_nodelay(true)
                .user_agent(concat!("dcsync/", env!("CARGO_PKG_VERSION")));
            match &proxy {
                Some(p) => b.proxy(p.clone()),
                None => b,
            }
        };
        Ok(HttpClients {
            public_only: builder()
                .dns_resolver(Arc::new(PublicOnly { lookup }))
                .build()?,
            any_address: builder().build()?,
        })
    }
}

/// What one config's adapter may reach over HTTP.
#[derive(Clone, Debug)]
pub struct HttpPolicy {
    /// `None`: no network at all (`describe()`).
    pub(crate) clients: Option<HttpClients>,
    /// Allowed origins; the first is the config URL's own.
    pub(crate) allowed: Vec<AllowedOrigin>,
    pub(crate) timeout: Duration,
    pub(crate) max_request: usize,
    pub(crate) max_response: usize,
    /// The config URL's path (declared body paths are relative to it).
    pub(crate) base_path: String,
}

/// One origin a config's requests may reach, with its own address rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AllowedOrigin {
    /// `scheme://host:port`.
    pub(crate) origin: String,
    /// The origin itself names a loopback or private address (an IP literal, or
    /// `localhost`): its requests may connect there. Every other origin, operator-added
    /// ones included, may reach public addresses only.
    pub(crate) private: bool,
}

impl AllowedOrigin {
    fn of(url: &url::Url) -> Option<Self> {
        let private = match url.host()? {
            url::Host::Ipv4(ip) => !is_public(IpAddr::V4(ip)),
            url::Host::Ipv6(ip) => !is_public(IpAddr::V6(ip)),
            url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        };
        Some(AllowedOrigin {
            origin: origin_of(url)?,
            private,
        })
    }
}

/// `scheme://host:port` of a URL (host lower-cased, default port filled in).
pub fn origin_of(url: &url::Url) -> Option<String> {
    Some(format!(
        "{}://{}:{}",
        url.scheme(),
        url.host_str()?.to_ascii_lowercase(),
        url.port_or_known_default()?
    ))
}

/// Where a request that passed the policy goes.
#[derive(Debug)]
pub(crate) struct Destination<'a> {
    /// `scheme://host:port`.
    pub(crate) origin: String,
    /// Whether it is the config URL's own origin (where secrets may go by default).
    pub(crate) own: bool,
    /// The client with the right address rule for it.
    pub(crate) client: &'a reqwest::Client,
}

impl HttpPolicy {
    /// No network: every request is denied (for `describe()`, which must not do I/O).
    pub fn offline(limits: &Limits) -> Self {
        HttpPolicy {
            clients: None,
            allowed: Vec::new(),
            timeout: Duration::from_secs(1),
            max_request: limits.max_request_bytes,
            max_response: limits.max_response_bytes,
            base_path: String::new(),
        }
    }

    /// The config URL's origin plus `extra_origins` (operator allowlist additions).
    pub fn for_config(
        clients: &HttpClients,
        config_url: &str,
        extra_origins: &[String],
        timeout: Duration,
        limits: &Limits,
    ) -> Self {
        let mut allowed: Vec<AllowedOrigin> = url::Url::parse(config_url)
            .ok()
            .as_ref()
            .and_then(AllowedOrigin::of)
            .into_iter()
            .collect();
        for o in extra_origins {
            if let Some(a) = url::Url::parse(o).ok().as_ref().and_then(AllowedOrigin::of) {
                if !allowed.iter().any(|x| x.origin == a.origin) {
                    allowed.push(a);
                }
            }
        }
        HttpPolicy {
            clients: Some(clients.clone()),
            allowed,
            timeout,
            max_request: limits.max_request_bytes,
            max_response: limits.max_response_bytes,
            base_path: url::Url::parse(config_url)
                .map(|u| u.path().to_string())
                .unwrap_or_default(),
        }
    }

    /// The path of `url` relative to the config URL's path (`https://h/odoo` +
    /// `/odoo/jsonrpc` → `/jsonrpc`); the whole path when it is not under it.
    pub(crate) fn relative_path(&self, url: &url::Url) -> String {
        let base = self.base_path.trim_end_matches('/');
        match url.path().strip_prefix(base) {
            Some(rest) if !base.is_empty() && rest.starts_with('/') => rest.to_string(),
            _ => url.path().to_string(),
        }
    }

    /// Where a request to `url` goes, or why it may not.
    pub(crate) fn check(&self, url: &url::Url) -> Result<Destination<'_>, Denial> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Denial::Scheme);
        }
        let origin = origin_of(url).ok_or(Denial::NoHost)?;
        let Some(position) = self.allowed.iter().position(|a| a.origin == origin) else {
            return Err(Denial::Origin);
        };
        let allowed = &self.allowed[position];
        let literal = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            _ => None,
        };
        if !allowed.private && literal.is_some_and(|ip| !is_public(ip)) {
            return Err(Denial::NotPublic);
        }
        let clients = self.clients.as_ref().ok_or(Denial::Offline)?;
        Ok(Destination {
            origin,
            own: position == 0,
            client: if allowed.private {
                &clients.any_address
            } else {
                &clients.public_only
            },
        })
    }
}

/// Why the policy refused a request. Its text names no URL: what the adapter built is
/// never echoed back to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Denial {
    /// Not http or https.
    #[error("only http and https URLs are allowed")]
    Scheme,
    /// A URL without a host.
    #[error("the URL has no host")]
    NoHost,
    /// Not the config's origin nor one the operator added.
    #[error("the URL's origin is not allowed for this config")]
    Origin,
    /// An IP literal that is not public, for a config that targets a public system.
    #[error("the URL's address is not a public address")]
    NotPublic,
    /// No network in this call.
    #[error("no network access here (describe() must not do I/O)")]
    Offline,
}

/// Not loopback, private, link-local, unique-local, CGNAT, multicast, reserved,
/// documentation or unspecified — and no IPv6 form that embeds a non-public IPv4 address
/// (IPv4-mapped, IPv4-compatible, NAT64, 6to4, Teredo).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(v4: Ipv4Addr) -> bool {
    let o = v4.octets();
    !(v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_broadcast()
        || v4.is_multicast()
        || v4.is_documentation()
        || o[0] == 0
        || o[0] >= 240 // reserved (class E)
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // CGNAT 100.64/10
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments 192.0.0/24
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // benchmarking 198.18/15
        || o == [168, 63, 129, 16]) // Azure's host endpoint (wire server), a metadata service
}

fn is_public_v6(v6: Ipv6Addr) -> bool {
    let s = v6.segments();
    if let Some(v4) = v6.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    // SIIT IPv4-translated ::ffff:0:a.b.c.d (RFC 2765), translated like the mapped form.
    if s[..4] == [0; 4] && s[4] == 0xffff && s[5] == 0 {
        return is_public_v4(Ipv4Addr::from_bits(v6.to_bits() as u32));
    }
    // IPv4-compatible ::a.b.c.d (deprecated, still routed by some stacks).
    if s[..6] == [0; 6] && !v6.is_loopback() && !v6.is_unspecified() {
        return is_public_v4(Ipv4Addr::from_bits(v6.to_bits() as u32));
    }
    // NAT64 well-known prefix 64:ff9b::/96. (The local-use 64:ff9b:1::/48 and the rest of
    // 64:ff9b::/32 fall in ::/8, refused below.)
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0; 4] {
        return is_public_v4(Ipv4Addr::from_bits(v6.to_bits() as u32));
    }
    // 6to4 2002::/16 embeds an IPv4 address in bits 16..48.
    if s[0] == 0x2002 {
        let v4 = Ipv4Addr::new((s[1] >> 8) as u8, s[1] as u8, (s[2] >> 8) as u8, s[2] as u8);
        return is_public_v4(v4);
    }
    !(v6.is_loopback()
        || v6.is_unspecified()
        || v6.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (s[0] & 0xffc0) == 0xfec0 // site-local fec0::/10 (deprecated)
        || (s[0] == 0x2001 && s[1] == 0) // Teredo 2001::/32: embeds an obfuscated IPv4
        || (s[0] == 0x2001 && s[1] == 0xdb8) // documentation 2001:db8::/32
        || (s[0] == 0x100 && s[1..4] == [0; 3]) // discard-only 100::/64
        || (s[0] & 0xff00) == 0) // the rest of ::/8 (reserved), past the embedded forms above
}

/// A resolver that drops non-public addresses, so a public name cannot be pointed at the
/// host's own network.
struct PublicOnly {
    lookup: Lookup,
}

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let lookup = self.lookup.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> = lookup(host.clone())
                .await?
                .into_iter()
                .filter(|ip| is_public(*ip))
                .map(|ip| SocketAddr::new(ip, 0))
                .collect();
            if addrs.is_empty() {
                return Err(Box::new(NotPublic { host }) as _);
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Whether an error (through its sources) is the public-only resolver's refusal.
pub(crate) fn is_not_public(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err.downcast_ref::<NotPublic>().is_some() {
            return true;
        }
        cur = err.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(s: &str) -> bool {
        is_public(s.parse().unwrap())
    }

    #[test]
    fn ipv4_non_public_ranges_are_refused() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.254",
            "0.0.0.0",
            "0.1.2.3",
            "255.255.255.255",
            "224.0.0.1",
            "240.0.0.1",
            "192.0.2.1",
            "198.51.100.1",
            "203.0.113.1",
            "192.0.0.8",
            "198.18.0.1",
            "168.63.129.16",
        ] {
            assert!(!public(ip), "{ip} must not count as public");
        }
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "100.128.0.1",
            "172.32.0.1",
            "198.20.0.1",
        ] {
            assert!(public(ip), "{ip} is public");
        }
    }

    #[test]
    fn ipv6_non_public_ranges_and_embedded_ipv4_are_refused() {
        for ip in [
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "::10.0.0.1",
            "::ffff:0:127.0.0.1",
            "::ffff:0:169.254.169.254",
            "64:ff9b::7f00:1",
            "64:ff9b::a00:1",
            "64:ff9b:1::1",
            "2002:7f00:1::",
            "2002:a00:1::1",
            "2001:0:4136:e378::1",
            "2001:db8::1",
            "100::1",
            "::1:0:808:808", // ::/8, reserved: not one of the forms that embed 8.8.8.8
            "64:ff9b:2::808:808",
            "2002:c633:6401::1", // 6to4 of 198.51.100.1 (documentation)
            "::ff:0:0:1",
        ] {
            assert!(!public(ip), "{ip} must not count as public");
        }
        for ip in [
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            "::ffff:0:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
            "2002:c000:101::1", // 6to4 of 192.0.1.1, beside 192.0.0/24
            "::8.8.8.8",        // IPv4-compatible: judged by its IPv4 address, not as ::/8
            "::1.1.1.1",
            "2a00::1",
        ] {
            assert!(public(ip), "{ip} is public");
        }
    }

    /// The ranges SECURITY.md names, each at its edges, alone and inside every IPv6 form
    /// that embeds an IPv4 address (IPv4-mapped, NAT64 64:ff9b::/96, 6to4 2002::/16).
    #[test]
    fn cgnat_link_local_unique_local_and_their_embedded_forms_are_refused() {
        let v4_refused = [
            "100.64.0.0",      // CGNAT 100.64/10, first
            "100.100.100.200", // CGNAT: Alibaba Cloud's metadata endpoint
            "100.127.255.255", // CGNAT, last
            "169.254.0.1",     // link-local
            "169.254.169.254", // link-local: the cloud metadata endpoint
            "169.254.255.255",
            "10.0.0.1",
            "172.31.255.255",
            "192.168.0.1",
            "127.0.0.53",
        ];
        for v4 in v4_refused {
            let [a, b, c, d] = v4.parse::<Ipv4Addr>().unwrap().octets();
            let (hi, lo) = (u16::from_be_bytes([a, b]), u16::from_be_bytes([c, d]));
            for form in [
                v4.to_string(),
                format!("::ffff:{v4}"),
                format!("64:ff9b::{hi:x}:{lo:x}"),
                format!("2002:{hi:x}:{lo:x}::1"),
            ] {
                assert!(!public(&form), "{form} must not count as public");
            }
        }
        for v6 in [
            "fc00::",
            "fc00::1",
            "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "fe80::1",
            "febf:ffff::1",
        ] {
            assert!(!public(v6), "{v6} must not count as public");
        }
        // Just outside each range, and public IPv4 in each embedding form: still reachable.
        for ip in [
            "100.63.255.255",
            "100.128.0.0",
            "192.0.1.1",
            "192.169.0.1",
            "198.17.255.255",
            "198.20.0.0",
            "168.63.129.17",
            "8.0.0.8",
            "169.253.255.255",
            "169.255.0.0",
            "fbff:ffff::1",
            "2001:4860::8888",
            "::ffff:100.63.255.255",
            "64:ff9b::643f:ffff",
            "2002:6480::1",
        ] {
            assert!(public(ip), "{ip} is public");
        }
    }

    fn policy(url: &str) -> HttpPolicy {
        let clients = HttpClients::new().unwrap();
        HttpPolicy::for_config(
            &clients,
            url,
            &["https://extra.example.org".into()],
            Duration::from_secs(1),
            &Limits::default(),
        )
    }

    #[test]
    fn only_the_config_origin_and_operator_additions_are_allowed() {
        let p = policy("https://api.example.org/x");
        let ok = |u: &str| p.check(&url::Url::parse(u).unwrap()).map(|d| d.own);
        assert_eq!(ok("https://api.example.org/other?q=1"), Ok(true));
        assert_eq!(
            ok("https://API.example.org:443/"),
            Ok(true),
            "host case, default port"
        );
        assert_eq!(
            ok("https://extra.example.org/y"),
            Ok(false),
            "allowed, not the own origin"
        );
        assert_eq!(
            ok("http://api.example.org/x"),
            Err(Denial::Origin),
            "scheme is part of the origin"
        );
        assert_eq!(ok("https://api.example.org:8443/x"), Err(Denial::Origin));
        assert_eq!(ok("https://evil.example.org/"), Err(Denial::Origin));
        assert_eq!(ok("ftp://api.example.org/"), Err(Denial::Scheme));
        assert_eq!(ok("file:///etc/passwd"), Err(Denial::Scheme));
    }

    #[test]
    fn ip_literals_must_be_public_unless_the_config_targets_a_private_address() {
        let public_cfg = policy("https://93.184.216.34/x");
        let lit = |p: &HttpPolicy, u: &str| p.check(&url::Url::parse(u).unwrap()).map(|_| ());
        assert!(lit(&public_cfg, "https://93.184.216.34/y").is_ok());
        let private_cfg = policy("http://127.0.0.1:3000/x");
        assert!(lit(&private_cfg, "http://127.0.0.1:3000/y").is_ok());
        // Each origin has its own rule: an operator-added public name beside a loopback
        // config gets the public-only client, so DNS cannot point it at the host.
        let mixed = HttpPolicy::for_config(
            &HttpClients::new().unwrap(),
            "http://127.0.0.1:3000/x",
            &["https://api.example.org".into()],
            Duration::from_secs(1),
            &Limits::default(),
        );
        assert!(mixed.allowed[0].private);
        assert!(!mixed.allowed[1].private);
        let d = mixed
            .check(&url::Url::parse("https://api.example.org/y").unwrap())
            .unwrap();
        assert!(std::ptr::eq(
            d.client,
            &mixed.clients.as_ref().unwrap().public_only
        ));
    }

    /// A URL naming an IP address is checked against that address: reachable only when it is
    /// the origin of the config (or the operator's), with the rule of that address. Every
    /// way of spelling a loopback or private address is refused to a public config.
    #[test]
    fn ip_literals_are_checked_by_their_address() {
        let p = policy("https://api.example.org/x");
        for url in [
            "https://127.0.0.1/",
            "https://2130706433/", // 127.0.0.1 as one decimal number
            "https://0x7f.1/",     // and in hex, shortened
            "https://[::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://[64:ff9b::a9fe:a9fe]/", // NAT64 of 169.254.169.254
            "https://169.254.169.254/latest/meta-data/",
            "https://100.100.100.200/",
            "https://[fd00::1]/",
        ] {
            assert!(
                p.check(&url::Url::parse(url).unwrap()).is_err(),
                "{url} must be refused"
            );
        }
        // An origin that is an IP literal takes the rule of its address.
        for (url, private) in [
            ("http://127.0.0.1:3000", true),
            ("http://[::ffff:10.0.0.1]", true),
            ("http://100.64.1.1", true),
            ("http://[fe80::1]", true),
            ("http://93.184.216.34", false),
            ("http://[2606:4700::1111]", false),
            ("http://LOCALHOST:8080", true),
            ("http://localhost.example.org", false),
        ] {
            let a = AllowedOrigin::of(&url::Url::parse(url).unwrap()).unwrap();
            assert_eq!(a.private, private, "{url}");
        }
        // The literal check itself, should an allowed origin's rule ever disagree with its
        // address: a public-only origin naming loopback is refused before any connection.
        let mut forced = policy("https://api.example.org/x");
        forced.allowed.push(AllowedOrigin {
            origin: "http://127.0.0.1:80".into(),
            private: false,
        });
        forced.allowed.push(AllowedOrigin {
            origin: "http://[::1]:80".into(),
            private: false,
        });
        for url in ["http://127.0.0.1/", "http://[::1]/"] {
            assert_eq!(
                forced.check(&url::Url::parse(url).unwrap()).map(|_| ()),
                Err(Denial::NotPublic),
                "{url}"
            );
        }
    }

    #[test]
    fn the_resolvers_refusal_is_recognised_through_its_sources() {
        #[derive(Debug, thiserror::Error)]
        #[error("connect failed")]
        struct Wrapper(#[source] NotPublic);
        let refused = Wrapper(NotPublic {
            host: "sync.example.org".into(),
        });
        assert!(is_not_public(&refused));
        let other = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert!(!is_not_public(&other));
    }

    #[test]
    fn declared_body_paths_are_relative_to_the_config_urls_path() {
        let at =
            |config: &str, url: &str| policy(config).relative_path(&url::Url::parse(url).unwrap());
        assert_eq!(at("https://h/odoo", "https://h/odoo/jsonrpc"), "/jsonrpc");
        assert_eq!(at("https://h/odoo/", "https://h/odoo/jsonrpc"), "/jsonrpc");
        // Not under the config's path: the whole path, so it matches no declared path.
        assert_eq!(at("https://h/odoo", "https://h/other"), "/other");
        assert_eq!(
            at("https://h/odoo", "https://h/odoojsonrpc"),
            "/odoojsonrpc"
        );
        assert_eq!(at("https://h/odoo", "https://h/odoo"), "/odoo");
        // A config at the root: every path is its own.
        assert_eq!(at("https://h", "https://h/jsonrpc"), "/jsonrpc");
    }

    #[test]
    fn only_http_and_https_are_allowed_even_to_the_configs_own_host() {
        let p = policy("ftp://api.example.org/x");
        for url in [
            "ftp://api.example.org/x",
            "file:///etc/passwd",
            "ws://api.example.org/",
            "wss://api.example.org/",
            "gopher://api.example.org/",
            "data:text/plain,hi",
            "unix:///var/run/docker.sock",
        ] {
            assert_eq!(
                p.check(&url::Url::parse(url).unwrap()).map(|_| ()),
                Err(Denial::Scheme),
                "{url}"
            );
        }
        let p = policy("https://api.example.org/x");
        assert!(p
            .check(&url::Url::parse("HTTPS://api.example.org/y").unwrap())
            .is_ok());
    }

    #[test]
    fn offline_policy_denies_everything() {
        let p = HttpPolicy::offline(&Limits::default());
        assert!(p
            .check(&url::Url::parse("https://example.org").unwrap())
            .is_err());
    }
}
