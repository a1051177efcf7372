//! Memory of this process (`/proc/self/status`) and of its finished children (`getrusage`).

/// `(VmRSS, VmHWM)` in KiB: resident memory now, and its peak so far.
pub fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// What `getrusage(RUSAGE_CHILDREN)` says about the children this process has waited for.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ChildrenUsage {
    /// The largest peak resident set of any one waited-for child, in KiB (`ru_maxrss`; Linux
    /// counts it in KiB).
    pub max_rss_kib: u64,
    /// User plus system CPU time of all of them, in seconds.
    pub cpu_secs: f64,
}

/// `getrusage(RUSAGE_CHILDREN)`, declared here rather than through the `libc` crate so the
/// bench adds no dependency (std links the C library anyway). The layout is Linux's `struct
/// rusage`: two `struct timeval`s, then fourteen `long`s, `ru_maxrss` first.
#[cfg(target_os = "linux")]
pub fn children_usage() -> ChildrenUsage {
    use std::os::raw::{c_int, c_long};

    #[repr(C)]
    #[derive(Default)]
    struct Timeval {
        tv_sec: c_long,
        tv_usec: c_long,
    }

    #[repr(C)]
    #[derive(Default)]
    struct Rusage {
        ru_utime: Timeval,
        ru_stime: Timeval,
        ru_maxrss: c_long,
        /// `ru_ixrss` … `ru_nivcsw`.
        _rest: [c_long; 13],
    }

    extern "C" {
        fn getrusage(who: c_int, usage: *mut Rusage) -> c_int;
    }
    const RUSAGE_CHILDREN: c_int = -1;

    let mut usage = Rusage::default();
    // SAFETY: `usage` is a valid, writable `struct rusage` for the duration of the call.
    let rc = unsafe { getrusage(RUSAGE_CHILDREN, &mut usage) };
    if rc != 0 {
        return ChildrenUsage::default();
    }
    let secs = |t: &Timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    ChildrenUsage {
        max_rss_kib: u64::try_from(usage.ru_maxrss).unwrap_or(0),
        cpu_secs: secs(&usage.ru_utime) + secs(&usage.ru_stime),
    }
}

#[cfg(not(target_os = "linux"))]
pub fn children_usage() -> ChildrenUsage {
    ChildrenUsage::default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_waited_for_child_shows_in_the_children_usage() {
        let before = children_usage();
        // `sh` allocating nothing special still has a resident set of at least a few hundred KiB.
        let status = std::process::Command::new("sh")
            .args(["-c", "true"])
            .status()
            .unwrap();
        assert!(status.success());
        let after = children_usage();
        assert!(after.max_rss_kib > 0, "{after:?}");
        assert!(after.max_rss_kib >= before.max_rss_kib);
        assert!(after.cpu_secs >= before.cpu_secs);
    }
}
