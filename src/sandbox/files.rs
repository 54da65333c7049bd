//! How submitted files and stdin reach a container without `docker cp` or a
//! bind mount: one byte stream written to the container's stdin, read by the
//! image's launcher (`images/execbox-run`):
//!
//! ```text
//! execbox1 <number of files>\n
//! <byte length> <name>\n<content>      (once per file)
//! <the program's stdin, up to EOF>
//! ```
//!
//! The launcher writes each file into `/work`, then `exec`s the runtime's
//! command with the rest of the stream as its stdin.

/// A name the launcher may safely write under `/work`: one path component of
/// `[A-Za-z0-9._-]`, not `.`/`..`, not starting with `-` or `.`.
pub fn is_safe_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with(['-', '.'])
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Frames `files` and `stdin` for the launcher. Names must satisfy
/// [`is_safe_name`] (checked by the caller; asserted here).
pub fn encode(files: &[(&str, &[u8])], stdin: &[u8]) -> Vec<u8> {
    let total: usize = files
        .iter()
        .map(|(n, c)| n.len() + c.len() + 24)
        .sum::<usize>()
        + stdin.len()
        + 16;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(format!("execbox1 {}\n", files.len()).as_bytes());
    for (name, content) in files {
        assert!(
            is_safe_name(name),
            "unsafe file name reached the sandbox: {name:?}"
        );
        out.extend_from_slice(format!("{} {}\n", content.len(), name).as_bytes());
        out.extend_from_slice(content);
    }
    out.extend_from_slice(stdin);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["main.py", "Main.java", "a_b-c.1"] {
            assert!(is_safe_name(ok), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "../x",
            "a/b",
            "/etc/passwd",
            "-rf",
            ".bashrc",
            "a b",
            "a\nb",
            "é.py",
            "a\\b",
        ] {
            assert!(!is_safe_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn framing() {
        let p = encode(&[("main.py", b"print(1)\n")], b"in\n");
        assert_eq!(p, b"execbox1 1\n9 main.py\nprint(1)\nin\n");
    }
}
