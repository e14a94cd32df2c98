//! Which URLs a request may make the service open: inputs it pulls and outputs it pushes to.
//! A request never chooses a local file, a pipe or an internal host: inputs are `rtmp(s)`,
//! `http(s)` (HLS or progressive) or `srt`; outputs `rtmp(s)`; hosts that are (or resolve to)
//! loopback, private, link-local (the cloud metadata address among them), carrier-grade NAT,
//! unspecified or multicast addresses are refused unless the operator allows them. The local
//! `costream render` command is not bound by this: its user chooses files.

pub mod resolve;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, ToSocketAddrs};

/// The protocols FFmpeg may use for an input a request chose, nested opens included (an HLS
/// playlist cannot reach `file:`, `concat:`, `pipe:` and the like).
pub const INPUT_PROTOCOLS: &str = "http,https,tls,tcp,rtmp,rtmps,srt,udp,crypto,hls";

const INPUT_SCHEMES: [&str; 5] = ["rtmp", "rtmps", "http", "https", "srt"];
const OUTPUT_SCHEMES: [&str; 2] = ["rtmp", "rtmps"];
const CALLBACK_SCHEMES: [&str; 2] = ["http", "https"];

/// What the operator allows beyond the public internet.
#[derive(Clone, Copy, Debug, Default)]
pub struct UrlPolicy {
    /// Inputs on loopback and private networks (tests, a LAN camera, the demo).
    pub allow_private_inputs: bool,
    /// Outputs to loopback and private networks (a relay next to the service).
    pub allow_private_outputs: bool,
}

/// Why a URL was refused; the text names the rule, never what is (or is not) on this machine.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

impl UrlPolicy {
    pub fn check_input(&self, url: &str) -> Result<(), Refused> {
        check(url, &INPUT_SCHEMES, self.allow_private_inputs, "an input")
    }

    pub fn check_output(&self, url: &str) -> Result<(), Refused> {
        check(url, &OUTPUT_SCHEMES, self.allow_private_outputs, "an output")
    }

    /// A URL the service calls out to (a platform's webhook): bound like outputs.
    pub fn check_callback(&self, url: &str) -> Result<(), Refused> {
        check(url, &CALLBACK_SCHEMES, self.allow_private_outputs, "a webhook")
    }
}

fn check(url: &str, schemes: &[&str], allow_private: bool, what: &str) -> Result<(), Refused> {
    let list = schemes.iter().map(|s| format!("{s}://")).collect::<Vec<_>>().join(", ");
    let refuse = |why: &str| Refused(format!("{what} must be a {list} URL on a public host: {why}"));
    if url.len() > crate::limits::MAX_URL_LEN || url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(refuse("too long or has spaces or control characters"));
    }
    let Some((scheme, rest)) = url.split_once("://") else { return Err(refuse("no scheme")) };
    if !schemes.contains(&scheme.to_ascii_lowercase().as_str()) {
        return Err(refuse("scheme not allowed"));
    }
    let host = host_of(rest).ok_or_else(|| refuse("no host"))?;
    if allow_private {
        return Ok(());
    }
    let ips: Vec<IpAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => (host.as_str(), 1).to_socket_addrs().map(|a| a.map(|s| s.ip()).collect()).unwrap_or_default(),
    };
    if host.eq_ignore_ascii_case("localhost") || ips.iter().any(|ip| !is_public(*ip)) {
        return Err(refuse("the host is on a loopback, private or link-local network"));
    }
    // A name that does not resolve now could resolve to an internal address when FFmpeg connects.
    if ips.is_empty() {
        return Err(refuse("the host name does not resolve"));
    }
    Ok(())
}

/// The host of `user@host:port/path` (IPv6 in brackets).
fn host_of(rest: &str) -> Option<String> {
    let authority = rest.split(['/', '?', '#']).next()?;
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host =
        if let Some(v6) = hostport.strip_prefix('[') { v6.split(']').next()? } else { hostport.split(':').next()? };
    (!host.is_empty()).then(|| host.to_string())
}

fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    let cgnat = o[0] == 100 && (o[1] & 0xc0) == 64;
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || cgnat
        || o[0] == 0
        // IETF protocol assignments, and the reserved 240/4
        || (o[0] == 192 && o[1] == 0 && o[2] == 0)
        || o[0] >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let unique_local = (s[0] & 0xfe00) == 0xfc00;
    let link_local = (s[0] & 0xffc0) == 0xfe80;
    let site_local = (s[0] & 0xffc0) == 0xfec0;
    // Addresses that carry an IPv4 one (NAT64, 6to4, the old IPv4-compatible form) are as
    // public as it is: 64:ff9b::7f00:1 reaches 127.0.0.1 through a NAT64 gateway.
    let v4 = |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    let embedded = match s {
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => Some(v4(hi, lo)),
        [0x2002, hi, lo, ..] => Some(v4(hi, lo)),
        [0, 0, 0, 0, 0, 0, hi, lo] if hi != 0 => Some(v4(hi, lo)),
        _ => None,
    };
    if let Some(v4) = embedded {
        return is_public_v4(v4);
    }
    !(ip.is_loopback() || ip.is_unspecified() || ip.is_multicast() || unique_local || link_local || site_local)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_only_on_allowed_schemes_and_public_hosts() {
        let p = UrlPolicy::default();
        for bad in [
            "/etc/passwd",
            "file:/etc/passwd",
            "file:///etc/shadow",
            "concat:/etc/passwd|/etc/hostname",
            "subfile:,start,0,end,10,:/etc/passwd",
            "pipe:0",
            "data:text/plain,hello",
            "gopher://127.0.0.1:70/",
            "tcp://127.0.0.1:9000",
            "unix:/run/socket",
            "http://127.0.0.1:8080/latest/meta-data/iam/",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::1]/x.m3u8",
            "http://[::ffff:127.0.0.1]/x.m3u8",
            "rtmp://10.0.0.5/live/x",
            "rtmp://192.168.1.2/live/x",
            "http://100.64.0.1/x",
            "http://localhost/x",
            "http://0.0.0.0/x",
            "rtmp://does-not-resolve.invalid/live/x",
            "http://[64:ff9b::7f00:1]/x",
            "http://[2002:a00:1::]/x",
            "http://[::127.0.0.1]/x",
            "http://[fec0::1]/x",
            "http://240.0.0.1/x",
            "http://192.0.0.8/x",
        ] {
            assert!(p.check_input(bad).is_err(), "{bad} accepted");
        }
        for good in [
            "rtmp://8.8.8.8/live/x",
            "https://1.1.1.1/hls/index.m3u8",
            "srt://9.9.9.9:9000",
            "http://[64:ff9b::808:808]/x",
        ] {
            assert!(p.check_input(good).is_ok(), "{good} refused");
        }
        let open = UrlPolicy { allow_private_inputs: true, ..UrlPolicy::default() };
        assert!(open.check_input("rtmp://127.0.0.1/live/x").is_ok());
        assert!(open.check_input("file:/etc/passwd").is_err(), "schemes hold even with private hosts allowed");
    }

    #[test]
    fn outputs_are_rtmp_to_public_hosts() {
        let p = UrlPolicy::default();
        assert!(p.check_output("rtmp://8.8.8.8/app/key").is_ok());
        assert!(p.check_output("http://8.8.8.8/x").is_err());
        assert!(p.check_output("rtmp://127.0.0.1/live/key").is_err());
        assert!(UrlPolicy { allow_private_outputs: true, ..UrlPolicy::default() }
            .check_output("rtmp://127.0.0.1/live/key")
            .is_ok());
    }
}
