//! What the kernel holds for the idle connections, which no process's RSS
//! shows: the TCP sockets' slab objects (`/proc/meminfo` `Slab`, and per
//! cache from `/proc/slabinfo` when readable) and the pages charged to TCP
//! buffers (`/proc/net/sockstat`, `TCP: mem`), read before the clients
//! start and again while every connection is held. Both ends of each
//! loopback connection live on this machine, so a delta covers two sockets
//! per connection.

use std::collections::HashMap;

/// The slab caches an open TCP socket of a process that polls it with
/// epoll takes one object from: the socket, its inode, dentry and file,
/// the epoll item, wait-queue hook and per-file list head, the security
/// module's inode and file blobs.
pub const SOCKET_CACHES: [&str; 9] = [
    "TCP",
    "sock_inode_cache",
    "dentry",
    "filp",
    "eventpoll_epi",
    "eventpoll_pwq",
    "ep_head",
    "lsm_inode_cache",
    "lsm_file_cache",
];

/// One reading of the kernel's socket memory.
#[derive(Default)]
pub struct KernelReading {
    /// `Slab:` in /proc/meminfo, KiB.
    pub slab_kib: Option<u64>,
    /// `TCP: inuse` in /proc/net/sockstat: TCP sockets in use.
    pub tcp_inuse: Option<u64>,
    /// `TCP: mem` in /proc/net/sockstat: pages charged to TCP buffers.
    pub tcp_mem_pages: Option<u64>,
    /// Per slab cache: (active objects, object size in bytes); empty when
    /// /proc/slabinfo cannot be read (it needs root).
    caches: HashMap<String, (u64, u64)>,
    /// For a cache of [`SOCKET_CACHES`] merged with others of its size:
    /// the name /proc/slabinfo shows the merged cache by.
    merged_into: HashMap<String, String>,
}

/// A slab cache that grew while the connections were held.
pub struct CacheGrowth {
    pub name: String,
    pub objects: i64,
    pub object_size: u64,
}

impl CacheGrowth {
    pub fn kib(&self) -> f64 {
        self.objects as f64 * self.object_size as f64 / 1024.0
    }
}

impl KernelReading {
    pub fn now() -> KernelReading {
        let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
        let mut r = KernelReading::parse(
            &read("/proc/meminfo"),
            &read("/proc/net/sockstat"),
            &read("/proc/slabinfo"),
        );
        r.merged_into = merged_names(&r.caches);
        r
    }

    fn parse(meminfo: &str, sockstat: &str, slabinfo: &str) -> KernelReading {
        let tcp = sockstat.lines().find(|l| l.starts_with("TCP:"));
        let field = |name: &str| -> Option<u64> {
            let mut words = tcp?.split_ascii_whitespace();
            words.find(|w| *w == name)?;
            words.next()?.parse().ok()
        };
        KernelReading {
            slab_kib: meminfo
                .lines()
                .find(|l| l.starts_with("Slab:"))
                .and_then(|l| l.split_ascii_whitespace().nth(1)?.parse().ok()),
            tcp_inuse: field("inuse"),
            tcp_mem_pages: field("mem"),
            caches: slab_caches(slabinfo),
            merged_into: HashMap::new(),
        }
    }

    /// KiB of slab per TCP socket opened from `before` to `self`: for each
    /// cache of [`SOCKET_CACHES`], the objects added per socket added (at
    /// most one each: more is other programs' work, e.g. dentries of /proc
    /// lookups) times the object size. `None` without /proc/slabinfo or
    /// when no socket was added.
    pub fn socket_kib_per_socket(&self, before: &KernelReading) -> Option<f64> {
        let sockets = delta(before.tcp_inuse, self.tcp_inuse)?;
        if sockets <= 0 || self.caches.is_empty() {
            return None;
        }
        // Caches merged into one count together: up to one object per
        // socket for each of them.
        let mut shown: HashMap<&str, f64> = HashMap::new();
        for name in SOCKET_CACHES {
            let name = self.merged_into.get(name).map_or(name, String::as_str);
            if self.caches.contains_key(name) {
                *shown.entry(name).or_default() += 1.0;
            }
        }
        let bytes: f64 = shown
            .into_iter()
            .map(|(name, most)| {
                let (objects, size) = self.caches[name];
                let was = before.caches.get(name).map_or(0, |c| c.0);
                let per_socket = (objects as f64 - was as f64) / sockets as f64;
                per_socket.clamp(0.0, most) * size as f64
            })
            .sum();
        Some(bytes / 1024.0)
    }

    /// The caches that grew most from `before` to `self`, largest first.
    pub fn grown_since(&self, before: &KernelReading, top: usize) -> Vec<CacheGrowth> {
        let mut grown: Vec<CacheGrowth> = self
            .caches
            .iter()
            .map(|(name, &(objects, size))| {
                let was = before.caches.get(name).map_or(0, |c| c.0);
                CacheGrowth {
                    name: name.clone(),
                    objects: objects as i64 - was as i64,
                    object_size: size,
                }
            })
            .filter(|g| g.objects > 0)
            .collect();
        grown.sort_by(|a, b| b.kib().total_cmp(&a.kib()));
        grown.truncate(top);
        grown
    }
}

/// What `ss -m` says of a set of sockets: how many, and the bytes their
/// buffers hold (`skmem`: r receive, t send, f forward-allocated, w
/// queued, o options).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SocketBuffers {
    pub sockets: u64,
    pub bytes: u64,
    /// Sockets holding any buffer bytes.
    pub busy: u64,
}

impl SocketBuffers {
    /// The established TCP sockets whose local port is one of `ports` (a
    /// server's ends), from `ss -tmnH`; `None` when `ss` cannot be run.
    pub fn of_ports(ports: &[u16]) -> Option<SocketBuffers> {
        let mut args: Vec<String> = ["-tmnH", "state", "established", "("]
            .map(String::from)
            .to_vec();
        for (i, port) in ports.iter().enumerate() {
            if i > 0 {
                args.push("or".to_owned());
            }
            args.extend(["sport".to_owned(), "=".to_owned(), format!(":{port}")]);
        }
        args.push(")".to_owned());
        let out = std::process::Command::new("ss").args(&args).output().ok()?;
        out.status
            .success()
            .then(|| SocketBuffers::parse(&String::from_utf8_lossy(&out.stdout)))
    }

    fn parse(text: &str) -> SocketBuffers {
        let mut b = SocketBuffers::default();
        for skmem in text.split("skmem:(").skip(1) {
            let inner = skmem.split(')').next().unwrap_or_default();
            let held: u64 = inner
                .split(',')
                .filter_map(|f| {
                    let digits = f.find(|c: char| c.is_ascii_digit())?;
                    let (name, value) = f.split_at(digits);
                    matches!(name, "r" | "t" | "f" | "w" | "o")
                        .then(|| value.parse::<u64>().ok())?
                })
                .sum();
            b.sockets += 1;
            b.bytes += held;
            b.busy += u64::from(held > 0);
        }
        b
    }
}

/// Difference `after − before` of two optional counters.
pub fn delta(before: Option<u64>, after: Option<u64>) -> Option<i64> {
    before.zip(after).map(|(a, b)| b as i64 - a as i64)
}

/// For each cache of [`SOCKET_CACHES`] that /proc/slabinfo does not list:
/// the listed cache that /sys/kernel/slab links to the same merged cache.
fn merged_names(caches: &HashMap<String, (u64, u64)>) -> HashMap<String, String> {
    let target = |name: &str| std::fs::read_link(format!("/sys/kernel/slab/{name}")).ok();
    let missing: Vec<(&str, std::path::PathBuf)> = SOCKET_CACHES
        .iter()
        .filter(|name| !caches.contains_key(**name))
        .filter_map(|name| Some((*name, target(name)?)))
        .collect();
    if missing.is_empty() {
        return HashMap::new();
    }
    let mut merged = HashMap::new();
    for listed in caches.keys() {
        let Some(link) = target(listed) else { continue };
        for (name, t) in &missing {
            if *t == link {
                merged.insert((*name).to_owned(), listed.clone());
            }
        }
    }
    merged
}

/// `/proc/slabinfo`: name → (active objects, object size).
fn slab_caches(slabinfo: &str) -> HashMap<String, (u64, u64)> {
    slabinfo
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("slabinfo"))
        .filter_map(|l| {
            let mut f = l.split_ascii_whitespace();
            let name = f.next()?.to_owned();
            let active: u64 = f.next()?.parse().ok()?;
            let _total = f.next()?;
            let size: u64 = f.next()?.parse().ok()?;
            Some((name, (active, size)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MEMINFO: &str =
        "MemTotal: 24683520 kB\nSlab:             521412 kB\nSReclaimable: 1 kB\n";
    const SOCKSTAT: &str =
        "sockets: used 15\nTCP: inuse 7 orphan 0 tw 289 alloc 9 mem 163\nUDP: inuse 0 mem 0\n";
    const SLABINFO: &str = "slabinfo - version: 2.1\n\
        # name <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables\n\
        TCP 100 120 2432 13 8 : tunables 0 0 0 : slabdata 9 9 0\n\
        filp 500 512 256 16 1 : tunables 0 0 0 : slabdata 32 32 0\n\
        dentry 900 900 192 21 1 : tunables 0 0 0 : slabdata 42 42 0\n";

    #[test]
    fn parses_meminfo_sockstat_and_slabinfo() {
        let r = KernelReading::parse(MEMINFO, SOCKSTAT, SLABINFO);
        assert_eq!(r.slab_kib, Some(521412));
        assert_eq!(r.tcp_inuse, Some(7));
        assert_eq!(r.tcp_mem_pages, Some(163));
        assert_eq!(r.caches.get("TCP"), Some(&(100, 2432)));
        assert_eq!(r.caches.len(), 3);
        let empty = KernelReading::parse("", "", "");
        assert_eq!((empty.slab_kib, empty.tcp_inuse), (None, None));
    }

    #[test]
    fn growth_is_sorted_by_bytes_and_skips_shrunk_caches() {
        let before = KernelReading::parse(MEMINFO, SOCKSTAT, SLABINFO);
        let later = SLABINFO
            .replace("TCP 100", "TCP 300")
            .replace("filp 500", "filp 1500")
            .replace("dentry 900", "dentry 10");
        let after = KernelReading::parse(MEMINFO, SOCKSTAT, &later);
        let grown = after.grown_since(&before, 5);
        let names: Vec<&str> = grown.iter().map(|g| g.name.as_str()).collect();
        // TCP: 200 × 2432 B = 475 KiB; filp: 1000 × 256 B = 250 KiB.
        assert_eq!(names, ["TCP", "filp"]);
        assert_eq!(grown[0].objects, 200);
        assert!((grown[1].kib() - 250.0).abs() < 1e-9);
        assert_eq!(after.grown_since(&before, 1).len(), 1);
        // 200 sockets added: TCP 1 per socket, filp 5 (capped at 1),
        // dentry fewer than before (0).
        let mut with_sockets = after;
        with_sockets.tcp_inuse = Some(207);
        let kib = with_sockets.socket_kib_per_socket(&before).unwrap();
        assert!((kib - (2432.0 + 256.0) / 1024.0).abs() < 1e-9, "{kib}");
        assert_eq!(with_sockets.socket_kib_per_socket(&with_sockets), None);
        let blind = KernelReading::parse(MEMINFO, &SOCKSTAT.replace("inuse 7", "inuse 9"), "");
        assert_eq!(blind.socket_kib_per_socket(&before), None);
    }

    #[test]
    fn merged_caches_count_together() {
        let before = KernelReading::parse(MEMINFO, SOCKSTAT, SLABINFO);
        // eventpoll_epi and eventpoll_pwq merged into the cache shown as
        // `dentry`: up to 2 objects per socket there.
        let mut after = KernelReading::parse(
            MEMINFO,
            &SOCKSTAT.replace("inuse 7", "inuse 107"),
            &SLABINFO.replace("dentry 900", "dentry 1200"),
        );
        let alone = after.socket_kib_per_socket(&before).unwrap();
        assert!((alone - 192.0 / 1024.0).abs() < 1e-9, "{alone}");
        for name in ["eventpoll_epi", "eventpoll_pwq"] {
            after
                .merged_into
                .insert(name.to_owned(), "dentry".to_owned());
        }
        let merged = after.socket_kib_per_socket(&before).unwrap();
        assert!((merged - 3.0 * 192.0 / 1024.0).abs() < 1e-9, "{merged}");
    }

    #[test]
    fn sums_ss_skmem_of_each_socket() {
        let text = "ESTAB 0 0 127.0.0.1:4000 127.0.0.2:5000\n\t skmem:(r0,rb131072,t0,tb2626560,f0,w0,o0,bl0,d0)\n\
                    ESTAB 0 0 127.0.0.1:4000 127.0.0.2:5001\n\t skmem:(r768,rb131072,t0,tb2626560,f3328,w0,o0,bl0,d0)\n";
        let b = SocketBuffers::parse(text);
        // rb and tb are limits, not memory held.
        assert_eq!(
            b,
            SocketBuffers {
                sockets: 2,
                bytes: 4096,
                busy: 1
            }
        );
    }

    #[test]
    fn reads_this_machine() {
        let now = KernelReading::now();
        assert!(now.slab_kib.is_some_and(|k| k > 0));
        assert!(now.tcp_mem_pages.is_some() && now.tcp_inuse.is_some());
        assert_eq!(delta(Some(5), Some(3)), Some(-2));
        assert_eq!(delta(None, Some(3)), None);
    }
}
