//! The process table, from `/proc/PID/stat`: the one parser the tests and the sandbox use (to find
//! the provider under a running Terraform, to tell whether a process group is still running, to
//! list a process's children).

/// The fields of one `/proc/PID/stat` line that the tests use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcStat {
    pub pid: u32,
    /// The command name, cut by the kernel to 15 bytes.
    pub comm: String,
    /// `R`, `S`, `D`, `Z` (zombie), `T`, …
    pub state: char,
    pub ppid: u32,
    /// Process group.
    pub pgrp: u32,
}

impl ProcStat {
    /// Parses "pid (comm) state ppid pgrp …". comm may hold spaces and parentheses, so it ends at
    /// the line's last `)`.
    pub fn parse(line: &str) -> Option<ProcStat> {
        let (head, tail) = line.rsplit_once(')')?;
        let (pid, comm) = head.split_once(" (")?;
        let mut fields = tail.split_whitespace();
        let state = fields.next()?.chars().next()?;
        let ppid = fields.next()?.parse().ok()?;
        let pgrp = fields.next()?.parse().ok()?;
        Some(ProcStat { pid: pid.trim().parse().ok()?, comm: comm.to_string(), state, ppid, pgrp })
    }

    pub fn is_zombie(&self) -> bool {
        self.state == 'Z'
    }
}

/// Every process whose stat is readable now (processes that end meanwhile are left out).
pub fn processes() -> std::io::Result<Vec<ProcStat>> {
    Ok(std::fs::read_dir("/proc")?
        .flatten()
        .filter(|e| e.file_name().to_str().is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit())))
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter_map(|line| ProcStat::parse(&line))
        .collect())
}

/// The children of `parent` running now.
pub fn children_of(parent: u32) -> std::io::Result<Vec<ProcStat>> {
    Ok(processes()?.into_iter().filter(|p| p.ppid == parent).collect())
}

/// Whether a process of group `pgid` is still running (zombies, which nobody may reap soon once
/// their parent is gone, do not count).
pub fn group_alive(pgid: u32) -> bool {
    processes().unwrap_or_default().iter().any(|p| p.pgrp == pgid && !p.is_zombie())
}
