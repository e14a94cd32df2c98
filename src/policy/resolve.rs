//! The address a request's URL is connected to is the address that was checked. FFmpeg resolves
//! a host name again when it connects (and an HLS playlist names further hosts), so a name that
//! passed [`super::UrlPolicy`] could answer an internal address by then (DNS rebinding). Every
//! name lookup of this process goes through [`getaddrinfo`] below; on a thread that opens what a
//! request chose ([`public_only_on_this_thread`]), a name with any address that is not public
//! answers "no such host", so nothing private is ever connected to, whatever the name says now.

use std::cell::Cell;
use std::ffi::{c_char, c_int, CStr, CString};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::OnceLock;

thread_local! {
    static PUBLIC_ONLY: Cell<bool> = const { Cell::new(false) };
}

/// From now on this thread's lookups (FFmpeg's connections among them) answer only names whose
/// every address is public; `false` lifts it.
pub fn public_only_on_this_thread(on: bool) {
    PUBLIC_ONLY.with(|p| p.set(on));
}

/// [`public_only_on_this_thread`] for as long as the guard lives; the thread's rule before comes
/// back when it drops.
pub struct PublicOnly(bool);

impl PublicOnly {
    pub fn while_alive(on: bool) -> PublicOnly {
        PublicOnly(PUBLIC_ONLY.with(|p| p.replace(on)))
    }
}

impl Drop for PublicOnly {
    fn drop(&mut self) {
        public_only_on_this_thread(self.0);
    }
}

type GetAddrInfo =
    unsafe extern "C" fn(*const c_char, *const c_char, *const libc::addrinfo, *mut *mut libc::addrinfo) -> c_int;

/// The C library's own lookup, found past this one.
fn next_getaddrinfo() -> Option<GetAddrInfo> {
    static NEXT: OnceLock<usize> = OnceLock::new();
    let p = *NEXT.get_or_init(|| unsafe { libc::dlsym(libc::RTLD_NEXT, c"getaddrinfo".as_ptr()) as usize });
    // SAFETY: the symbol the C library exports under this name has this signature.
    (p != 0).then(|| unsafe { std::mem::transmute::<usize, GetAddrInfo>(p) })
}

/// Test knob: a file of `name address` lines that answer before the system's resolver does (a
/// name whose answer the test changes between the check and the connection).
static TEST_HOSTS: OnceLock<std::path::PathBuf> = OnceLock::new();

pub fn set_test_hosts(path: std::path::PathBuf) {
    let _ = TEST_HOSTS.set(path);
}

fn test_answer(node: *const c_char) -> Option<CString> {
    let path = TEST_HOSTS.get()?;
    if node.is_null() {
        return None;
    }
    // SAFETY: a lookup's node is a NUL-terminated string.
    let name = unsafe { CStr::from_ptr(node) }.to_str().ok()?;
    let text = std::fs::read_to_string(path).ok()?;
    let addr = text.lines().find_map(|l| {
        let mut w = l.split_whitespace();
        (w.next()? == name).then(|| w.next().map(str::to_string)).flatten()
    })?;
    CString::new(addr).ok()
}

/// The process's `getaddrinfo`: the C library's, then (on a public-only thread) refused when an
/// answer is not public.
///
/// # Safety
/// As the C function: `node`/`service` NUL-terminated or null, `res` writable.
#[no_mangle]
pub unsafe extern "C" fn getaddrinfo(
    node: *const c_char,
    service: *const c_char,
    hints: *const libc::addrinfo,
    res: *mut *mut libc::addrinfo,
) -> c_int {
    let Some(next) = next_getaddrinfo() else { return libc::EAI_FAIL };
    let answer = test_answer(node);
    let node = answer.as_ref().map_or(node, |a| a.as_ptr());
    let rc = next(node, service, hints, res);
    if rc != 0 || !PUBLIC_ONLY.with(Cell::get) || all_public(*res) {
        return rc;
    }
    libc::freeaddrinfo(*res);
    *res = std::ptr::null_mut();
    tracing::warn!("a connection was refused: its host resolves to a loopback, private or link-local address");
    libc::EAI_NONAME
}

/// Whether every address of a lookup's answer is public.
///
/// # Safety
/// `ai` is a list `getaddrinfo` returned.
unsafe fn all_public(mut ai: *const libc::addrinfo) -> bool {
    while !ai.is_null() {
        let a = &*ai;
        let ip = match a.ai_family {
            libc::AF_INET if !a.ai_addr.is_null() => {
                let sin = &*(a.ai_addr as *const libc::sockaddr_in);
                IpAddr::V4(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)))
            }
            libc::AF_INET6 if !a.ai_addr.is_null() => {
                let sin6 = &*(a.ai_addr as *const libc::sockaddr_in6);
                IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr))
            }
            _ => return false,
        };
        if !super::is_public(ip) {
            return false;
        }
        ai = a.ai_next;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::ToSocketAddrs;

    #[test]
    fn a_public_only_thread_cannot_resolve_to_loopback() {
        std::thread::spawn(|| {
            // (std answers an address literal itself; a name goes through the lookup)
            assert!(("localhost", 80).to_socket_addrs().is_ok(), "open by default");
            public_only_on_this_thread(true);
            assert!(("localhost", 80).to_socket_addrs().is_err(), "a name for loopback refused");
            {
                let _lifted = PublicOnly::while_alive(false);
                assert!(("localhost", 80).to_socket_addrs().is_ok(), "lifted for the guard's life");
            }
            assert!(("localhost", 80).to_socket_addrs().is_err(), "and back after it");
            public_only_on_this_thread(false);
            assert!(("localhost", 80).to_socket_addrs().is_ok());
        })
        .join()
        .unwrap();
    }
}
