//! Kernel error numbers, by name. Syscall-shaped functions return
//! `Result<_, Errno>` exactly where the kernel returns `-E...`.

use std::fmt;

macro_rules! errnos {
    ($($name:ident = $num:expr, $text:expr;)*) => {
        /// A kernel errno. `Display` prints the name (`EINVAL`).
        #[allow(clippy::upper_case_acronyms)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Errno {
            $($name,)*
            /// Any other error number (a rejected key stores whatever
            /// error its constructor chose).
            Other(i32),
        }

        impl Errno {
            /// Every named errno.
            pub const ALL: &'static [Errno] = &[$(Errno::$name),*];
            /// The x86-64 errno number.
            pub fn number(self) -> i32 { match self { $(Errno::$name => $num,)* Errno::Other(n) => n } }
            /// The kernel's name for it (`"E?"` for an unnamed number).
            pub fn name(self) -> &'static str { match self { $(Errno::$name => stringify!($name),)* Errno::Other(_) => "E?" } }
            /// The `strerror` text.
            pub fn text(self) -> &'static str { match self { $(Errno::$name => $text,)* Errno::Other(_) => "Unknown error" } }
            /// Look an errno up by name (`"EINVAL"`, or `"E1234"` for a number).
            pub fn from_name(s: &str) -> Option<Errno> {
                match s {
                    $(stringify!($name) => Some(Errno::$name),)*
                    _ => s.strip_prefix('E').and_then(|n| n.parse().ok()).map(Errno::from_any),
                }
            }
            /// Look a named errno up by number.
            pub fn from_number(n: i32) -> Option<Errno> {
                match n { $($num => Some(Errno::$name),)* _ => None }
            }
            /// Any error number, named when the model knows its name.
            pub fn from_any(n: i32) -> Errno {
                Errno::from_number(n).unwrap_or(Errno::Other(n))
            }
        }
    };
}

errnos! {
    EPERM = 1, "Operation not permitted";
    ENOENT = 2, "No such file or directory";
    EINTR = 4, "Interrupted system call";
    EIO = 5, "Input/output error";
    EBADF = 9, "Bad file descriptor";
    EAGAIN = 11, "Resource temporarily unavailable";
    ENOMEM = 12, "Cannot allocate memory";
    EACCES = 13, "Permission denied";
    EFAULT = 14, "Bad address";
    EBUSY = 16, "Device or resource busy";
    EEXIST = 17, "File exists";
    EXDEV = 18, "Invalid cross-device link";
    ENODEV = 19, "No such device";
    ENOTDIR = 20, "Not a directory";
    EINVAL = 22, "Invalid argument";
    ENFILE = 23, "Too many open files in system";
    EMFILE = 24, "Too many open files";
    ENOTTY = 25, "Inappropriate ioctl for device";
    ESPIPE = 29, "Illegal seek";
    EPIPE = 32, "Broken pipe";
    EDEADLK = 35, "Resource deadlock avoided";
    ENOSYS = 38, "Function not implemented";
    ELOOP = 40, "Too many levels of symbolic links";
    ENOPKG = 65, "Package not installed";
    ENOBUFS = 105, "No buffer space available";
    EBADSLT = 57, "Invalid slot";
    EDQUOT = 122, "Disk quota exceeded";
    ENOKEY = 126, "Required key not available";
    EKEYEXPIRED = 127, "Key has expired";
    EKEYREVOKED = 128, "Key has been revoked";
    EKEYREJECTED = 129, "Key was rejected by service";
    EOPNOTSUPP = 95, "Operation not supported";
    ERESTARTSYS = 512, "Interrupted (restart)";
    ENOIOCTLCMD = 515, "No ioctl command";
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Errno::Other(n) => write!(f, "E{n}"),
            e => f.write_str(e.name()),
        }
    }
}

impl std::error::Error for Errno {}

/// `Result` of a syscall-shaped model function.
pub type KResult<T> = Result<T, Errno>;

#[cfg(test)]
mod tests {
    use super::*;

    /// Every errno round-trips through its name and its number.
    #[test]
    fn errno_names_and_numbers_round_trip() {
        for &e in Errno::ALL {
            assert_eq!(Errno::from_name(e.name()), Some(e));
            assert_eq!(Errno::from_number(e.number()), Some(e));
            assert_eq!(e.to_string(), e.name());
        }
        assert_eq!(Errno::ENOBUFS.number(), 105);
        assert_eq!(Errno::from_any(3), Errno::Other(3));
        assert_eq!(Errno::from_name("E3"), Some(Errno::Other(3)));
        assert_eq!(Errno::Other(3).to_string(), "E3");
        assert_eq!(Errno::EXDEV.number(), 18);
    }
}
