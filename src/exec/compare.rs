//! The built-in checkers: a program's stdout against a case's expected
//! output. Pure; each returns `Ok(())` or the first difference, described
//! for the user.

use crate::model::cases::Comparison;

/// How much of a differing line or token a message quotes.
const QUOTE: usize = 60;

fn quote(s: &str) -> String {
    let cut: String = s.chars().take(QUOTE).collect();
    if cut.len() < s.len() {
        format!("{cut:?}...")
    } else {
        format!("{cut:?}")
    }
}

/// Compares `actual` with `expected`.
pub(crate) fn compare(how: Comparison, expected: &str, actual: &str) -> Result<(), String> {
    match how {
        Comparison::Exact => exact(expected, actual),
        Comparison::Lines => lines(expected, actual),
        Comparison::Tokens => tokens(expected, actual, |e, a| e == a),
        Comparison::Float { abs, rel } => tokens(expected, actual, |e, a| e == a || close(e, a, abs, rel)),
    }
}

fn exact(expected: &str, actual: &str) -> Result<(), String> {
    if expected == actual {
        return Ok(());
    }
    let at = expected.bytes().zip(actual.bytes()).take_while(|(e, a)| e == a).count();
    let line = expected.as_bytes()[..at].iter().filter(|b| **b == b'\n').count() + 1;
    Err(match (expected.len(), actual.len()) {
        (e, a) if at == a && a < e => format!("the output ends early, at byte {a} of {e} (line {line})"),
        (e, _) if at == e => format!("the output goes on after the expected {e} bytes (line {line})"),
        _ => format!("byte {at} differs (line {line})"),
    })
}

/// Lines without trailing whitespace, without trailing blank lines.
fn normalized(s: &str) -> Vec<&str> {
    let mut v: Vec<&str> = s.split('\n').map(str::trim_end).collect();
    while v.last().is_some_and(|l| l.is_empty()) {
        v.pop();
    }
    v
}

fn lines(expected: &str, actual: &str) -> Result<(), String> {
    let (e, a) = (normalized(expected), normalized(actual));
    for (i, (el, al)) in e.iter().zip(&a).enumerate() {
        if el != al {
            return Err(format!("line {} differs: expected {}, got {}", i + 1, quote(el), quote(al)));
        }
    }
    match e.len().cmp(&a.len()) {
        std::cmp::Ordering::Equal => Ok(()),
        std::cmp::Ordering::Greater => Err(format!("{} lines expected, got {}", e.len(), a.len())),
        std::cmp::Ordering::Less => {
            Err(format!("{} lines expected, got {} (line {} is {})", e.len(), a.len(), e.len() + 1, quote(a[e.len()])))
        }
    }
}

fn tokens(expected: &str, actual: &str, same: impl Fn(&str, &str) -> bool) -> Result<(), String> {
    let (mut e, mut a) = (expected.split_whitespace(), actual.split_whitespace());
    let mut i = 0;
    loop {
        i += 1;
        match (e.next(), a.next()) {
            (None, None) => return Ok(()),
            (Some(et), Some(at)) if same(et, at) => continue,
            (Some(et), Some(at)) => {
                return Err(format!("token {i} differs: expected {}, got {}", quote(et), quote(at)))
            }
            (Some(et), None) => return Err(format!("the output ends before token {i} (expected {})", quote(et))),
            (None, Some(at)) => {
                return Err(format!("the output has more than {} tokens (token {i} is {})", i - 1, quote(at)))
            }
        }
    }
}

/// Two numeric tokens within `abs`, or within `rel` of the expected value.
fn close(expected: &str, actual: &str, abs: f64, rel: f64) -> bool {
    let (Ok(e), Ok(a)) = (expected.parse::<f64>(), actual.parse::<f64>()) else {
        return false;
    };
    if e.is_nan() || a.is_nan() {
        return e.is_nan() && a.is_nan();
    }
    if e.is_infinite() || a.is_infinite() {
        return e == a;
    }
    let d = (e - a).abs();
    d <= abs || d <= rel * e.abs()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_checker_accepts_and_rejects_what_it_should() {
        use Comparison::*;
        let float = Float { abs: 1e-6, rel: 1e-6 };
        // (checker, expected, actual, accepted)
        let table: &[(Comparison, &str, &str, bool)] = &[
            (Exact, "1 2\n", "1 2\n", true),
            (Exact, "1 2\n", "1 2", false),
            (Exact, "1 2\n", "1  2\n", false),
            (Lines, "1 2\n", "1 2", true),
            (Lines, "1 2\n3\n", "1 2   \n3\n\n\n", true),
            (Lines, "1 2\r\n3\r\n", "1 2\n3\n", true),
            (Lines, "1 2\n", "1  2\n", false),
            (Lines, "a\n\nb\n", "a\nb\n", false),
            (Lines, "a\n", " a\n", false),
            (Lines, "", "\n\n", true),
            (Tokens, "1 2\n3", "1\n2 3\n\n", true),
            (Tokens, "1 2 3", "1 2", false),
            (Tokens, "1.0", "1", false),
            (float, "1.0 2.5", "1 2.5000001", true),
            (float, "1000000", "1000000.5", true),
            (float, "1000000", "1000002", false),
            (float, "0.1", "0.1001", false),
            (float, "nan inf", "NaN inf", true),
            (float, "inf", "1e308", false),
            (float, "yes 1", "yes 1.0000000001", true),
            (float, "yes", "no", false),
            (float, "1 2", "1", false),
        ];
        for &(how, expected, actual, ok) in table {
            let got = compare(how, expected, actual);
            assert_eq!(got.is_ok(), ok, "{how:?} {expected:?} vs {actual:?}: {got:?}");
        }
    }

    #[test]
    fn messages_point_at_the_difference() {
        let table = [
            (Comparison::Lines, "1\n2\n3\n", "1\n5\n3\n", "line 2 differs: expected \"2\", got \"5\""),
            (Comparison::Lines, "1\n2\n", "1\n", "2 lines expected, got 1"),
            (Comparison::Lines, "1\n", "1\n2\n", "1 lines expected, got 2 (line 2 is \"2\")"),
            (Comparison::Tokens, "a b c", "a b", "the output ends before token 3 (expected \"c\")"),
            (Comparison::Tokens, "a", "a b", "more than 1 tokens (token 2 is \"b\")"),
            (Comparison::Exact, "abc\ndef", "abc\ndxf", "byte 5 differs (line 2)"),
            (Comparison::Exact, "abc", "ab", "ends early, at byte 2 of 3"),
            (Comparison::Exact, "ab", "abc", "goes on after the expected 2 bytes"),
            (Comparison::Exact, "é", "è", "byte 1 differs (line 1)"),
        ];
        for (how, expected, actual, want) in table {
            let got = compare(how, expected, actual).unwrap_err();
            assert!(got.contains(want), "{got:?} should say {want:?}");
        }
        let long = "x".repeat(500);
        let got = compare(Comparison::Lines, &long, "y").unwrap_err();
        assert!(got.len() < 200 && got.contains("..."), "{got}");
    }
}
