//! Files on the host through semihosting (QEMU `-semihosting-config enable=on`): ARM's, or
//! RISC-V's, which takes the same calls and numbers. Shared by the QEMU and RISC-V firmware; each
//! names its semihosting crate `semihosting_sys` at its root.
//!
//! cortex-m-semihosting and riscv-semihosting only open the host's console, so files are opened
//! with the raw `OPEN`/`WRITE`/`CLOSE` calls.

use crate::semihosting_sys::{nr, syscall};

use crate::error::Error;

/// A host file open for writing; closed when dropped.
pub struct HostFile {
    fd: usize,
}

impl HostFile {
    /// Creates (or truncates) `name` in QEMU's working folder.
    pub fn create(name: &str) -> Result<HostFile, Error> {
        // OPEN wants a NUL-terminated name and its length without the NUL.
        let mut path = [0u8; 96];
        let bytes = name.as_bytes();
        if bytes.len() >= path.len() || bytes.contains(&0) {
            return Err(Error::HostFile);
        }
        path[..bytes.len()].copy_from_slice(bytes);
        // SAFETY: `path` is NUL-terminated and outlives the call; semihosting only reads it.
        let fd = unsafe { syscall!(OPEN, path.as_ptr(), nr::open::W_TRUNC_BINARY, bytes.len()) };
        if fd as isize == -1 {
            return Err(Error::HostFile);
        }
        Ok(HostFile { fd })
    }

    /// Writes all of `bytes`.
    pub fn write_all(&mut self, mut bytes: &[u8]) -> Result<(), Error> {
        while !bytes.is_empty() {
            // SAFETY: the host only reads `bytes.len()` bytes from the pointer.
            let not_written = unsafe { syscall!(WRITE, self.fd, bytes.as_ptr(), bytes.len()) };
            match bytes.get(bytes.len().wrapping_sub(not_written)..) {
                Some(rest) if not_written < bytes.len() => bytes = rest,
                _ if not_written == 0 => return Ok(()),
                _ => return Err(Error::HostFile),
            }
        }
        Ok(())
    }
}

impl Drop for HostFile {
    fn drop(&mut self) {
        // SAFETY: `fd` came from OPEN and is closed once.
        unsafe {
            syscall!(CLOSE, self.fd);
        }
    }
}
