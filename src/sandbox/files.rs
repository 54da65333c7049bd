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
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Frames `files` and `stdin` for the launcher. Names must satisfy
/// [`is_safe_name`] (checked by the caller; asserted here).
pub fn encode(files: &[(&str, &[u8])], stdin: &[u8]) -> Vec<u8> {
    let total: usize = files.iter().map(|(n, c)| n.len() + c.len() + 24).sum::<usize>() + stdin.len() + 16;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(format!("execbox1 {}\n", files.len()).as_bytes());
    for (name, content) in files {
        assert!(is_safe_name(name), "unsafe file name reached the sandbox: {name:?}");
        out.extend_from_slice(format!("{} {}\n", content.len(), name).as_bytes());
        out.extend_from_slice(content);
    }
    out.extend_from_slice(stdin);
    out
}

/// Most files in one submission, and most bytes in all of them.
pub const MAX_FILES: usize = 64;
pub const MAX_TOTAL_BYTES: usize = 4 * 1024 * 1024;

/// Decodes a session's extra files (`[{name, content, encoding?}]`, encoding
/// `utf8` (default), `base64` or `hex`) and checks them: plain names, no
/// duplicates (the main file's name included), bounded count and size.
/// `Err` is a message for the user.
pub fn decode_extra(files: &serde_json::Value, main: &str, main_len: usize) -> Result<Vec<(String, Vec<u8>)>, String> {
    let list = files.as_array().ok_or("files must be an array of {name, content, encoding?}")?;
    if list.len() + 1 > MAX_FILES {
        return Err(format!("too many files: at most {MAX_FILES}"));
    }
    let mut out: Vec<(String, Vec<u8>)> = Vec::with_capacity(list.len());
    let mut total = main_len;
    for (i, f) in list.iter().enumerate() {
        let name = f.get("name").and_then(|n| n.as_str()).ok_or_else(|| format!("files[{i}] has no name"))?;
        if !is_safe_name(name) {
            return Err(format!(
                "files[{i}]: name {name:?} is not allowed (one plain file name of letters, digits, '.', '_' and '-', not starting with '.' or '-')"
            ));
        }
        if name == main || out.iter().any(|(n, _)| n == name) {
            return Err(format!("files[{i}]: {name:?} appears twice"));
        }
        let content = f
            .get("content")
            .and_then(|c| c.as_str())
            .ok_or_else(|| format!("files[{i}] ({name}) has no text content"))?;
        let encoding = f.get("encoding").and_then(|e| e.as_str());
        let bytes = decode_content(content, encoding).map_err(|e| format!("files[{i}] ({name}): {e}"))?;
        total += bytes.len();
        if total > MAX_TOTAL_BYTES {
            return Err(format!("files are too large: at most {MAX_TOTAL_BYTES} bytes in all"));
        }
        out.push((name.to_string(), bytes));
    }
    Ok(out)
}

/// A file's content in its declared encoding: `utf8` (the default),
/// `base64` or `hex` (Piston's set).
pub fn decode_content(content: &str, encoding: Option<&str>) -> Result<Vec<u8>, String> {
    use base64::Engine as _;
    match encoding.unwrap_or("utf8") {
        "utf8" | "utf-8" => Ok(content.as_bytes().to_vec()),
        "base64" => {
            base64::engine::general_purpose::STANDARD.decode(content).map_err(|e| format!("invalid base64: {e}"))
        }
        "hex" if content.len().is_multiple_of(2) => (0..content.len())
            .step_by(2)
            .map(|i| content.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
            .collect::<Option<Vec<u8>>>()
            .ok_or_else(|| "invalid hex".to_string()),
        "hex" => Err("invalid hex".to_string()),
        other => Err(format!("unknown encoding {other:?} (utf8, base64 or hex)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_files() {
        let ok = serde_json::json!([
            {"name": "util.py", "content": "x = 1"},
            {"name": "data.bin", "content": "AAEC", "encoding": "base64"},
            {"name": "h.txt", "content": "6869", "encoding": "hex"}
        ]);
        let got = decode_extra(&ok, "main.py", 0).unwrap();
        assert_eq!(got[0], ("util.py".to_string(), b"x = 1".to_vec()));
        assert_eq!(got[1].1, vec![0, 1, 2]);
        assert_eq!(got[2].1, b"hi".to_vec());
        for (bad, msg) in [
            (serde_json::json!([{"name": "../x", "content": ""}]), "not allowed"),
            (serde_json::json!([{"name": "main.py", "content": ""}]), "twice"),
            (serde_json::json!([{"name": "a", "content": ""}, {"name": "a", "content": ""}]), "twice"),
            (serde_json::json!([{"name": "a", "content": "zz", "encoding": "hex"}]), "invalid hex"),
            (serde_json::json!([{"name": "a", "content": "x", "encoding": "rot13"}]), "unknown encoding"),
            (serde_json::json!([{"content": "x"}]), "no name"),
            (serde_json::json!({"name": "a"}), "array"),
        ] {
            let err = decode_extra(&bad, "main.py", 0).unwrap_err();
            assert!(err.contains(msg), "{err}");
        }
        let big = serde_json::json!([{"name": "a", "content": "x".repeat(MAX_TOTAL_BYTES)}]);
        assert!(decode_extra(&big, "main.py", 1).unwrap_err().contains("too large"));
    }

    #[test]
    fn names() {
        for ok in ["main.py", "Main.java", "a_b-c.1"] {
            assert!(is_safe_name(ok), "{ok}");
        }
        for bad in ["", ".", "..", "../x", "a/b", "/etc/passwd", "-rf", ".bashrc", "a b", "a\nb", "é.py", "a\\b"] {
            assert!(!is_safe_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn framing() {
        let p = encode(&[("main.py", b"print(1)\n")], b"in\n");
        assert_eq!(p, b"execbox1 1\n9 main.py\nprint(1)\nin\n");
    }
}
