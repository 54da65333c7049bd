//! Every language of the runtime table, through the database: hello (Piston's
//! "prints OK"), a compile error (reported as such, from the compile stage),
//! a runtime error, and a program of several files.

use std::time::Duration;

use execbox::model::Request;
use serde_json::json;
use uuid::Uuid;

use crate::support::*;

const T: Duration = Duration::from_secs(180);

struct Lang {
    name: &'static str,
    ok: &'static str,
    /// A program that does not compile, and a word of the compiler's complaint.
    compile_error: Option<(&'static str, &'static str)>,
    exit3: &'static str,
    multi: (&'static str, &'static str, &'static str),
}

const LANGS: &[Lang] = &[
    Lang {
        name: "python",
        ok: "print('OK')",
        compile_error: None,
        exit3: "import sys\nsys.exit(3)",
        multi: ("import util\nprint(util.f())", "util.py", "def f():\n    return 'OK from util'\n"),
    },
    Lang {
        name: "node",
        ok: "console.log('OK')",
        compile_error: None,
        exit3: "process.exit(3)",
        multi: (
            "const u = require('./util.js');\nconsole.log(u.f());",
            "util.js",
            "module.exports = { f: () => 'OK from util' };",
        ),
    },
    Lang {
        name: "typescript",
        ok: "const x: string = 'OK';\nconsole.log(x);",
        compile_error: Some(("const x: number = 'not a number';\nconsole.log(x);", "not assignable")),
        exit3: "process.exit(3);",
        multi: (
            "import { f } from './util';\nconsole.log(f());",
            "util.ts",
            "export function f(): string { return 'OK from util'; }",
        ),
    },
    Lang {
        name: "go",
        ok: "package main\nimport \"fmt\"\nfunc main() { fmt.Println(\"OK\") }",
        compile_error: Some(("package main\nfunc main() { undefinedFunction() }", "undefinedFunction")),
        exit3: "package main\nimport \"os\"\nfunc main() { os.Exit(3) }",
        multi: (
            "package main\nimport \"fmt\"\nfunc main() { fmt.Println(f()) }",
            "util.go",
            "package main\nfunc f() string { return \"OK from util\" }",
        ),
    },
    Lang {
        name: "rust",
        ok: "fn main() { println!(\"OK\"); }",
        compile_error: Some(("fn main() { let x: i32 = \"not a number\"; }", "mismatched types")),
        exit3: "fn main() { std::process::exit(3); }",
        multi: (
            "mod util;\nfn main() { println!(\"{}\", util::f()); }",
            "util.rs",
            "pub fn f() -> &'static str { \"OK from util\" }",
        ),
    },
    Lang {
        name: "java",
        ok: "public class Main { public static void main(String[] a) { System.out.println(\"OK\"); } }",
        compile_error: Some((
            "public class Main { public static void main(String[] a) { int x = \"not a number\"; } }",
            "incompatible types",
        )),
        exit3: "public class Main { public static void main(String[] a) { System.exit(3); } }",
        multi: (
            "public class Main { public static void main(String[] a) { System.out.println(Util.f()); } }",
            "Util.java",
            "public class Util { public static String f() { return \"OK from util\"; } }",
        ),
    },
    Lang {
        name: "cpp",
        ok: "#include <iostream>\nint main() { std::cout << \"OK\" << std::endl; }",
        compile_error: Some(("int main() { return undefined_variable; }", "undefined_variable")),
        exit3: "int main() { return 3; }",
        multi: (
            "#include <iostream>\n#include \"util.h\"\nint main() { std::cout << f() << std::endl; }",
            "util.h",
            "inline const char* f() { return \"OK from util\"; }",
        ),
    },
];

async fn submit_files(db: &TestDb, user: Uuid, language: &str, code: &str, files: Option<serde_json::Value>) -> Uuid {
    db.insert(user, &Request { language: language.into(), code: code.into(), files, ..Default::default() }).await
}

#[tokio::test]
async fn every_language_runs_fails_and_compiles_as_it_should() {
    let _cpu = compiling().await;
    let db = TestDb::new().await;
    let user = db.user().await;
    let w = db.worker_with(|c| c.worker.max_concurrent_runs = 4);
    let mut cases = Vec::new();
    for l in LANGS {
        let ok = submit_files(&db, user, l.name, l.ok, None).await;
        let exit3 = submit_files(&db, user, l.name, l.exit3, None).await;
        let (main, name, content) = l.multi;
        let multi = submit_files(&db, user, l.name, main, Some(json!([{"name": name, "content": content}]))).await;
        let broken = match l.compile_error {
            Some((code, _)) => Some(submit_files(&db, user, l.name, code, None).await),
            None => None,
        };
        cases.push((l, ok, exit3, multi, broken));
    }
    for (l, ok, exit3, multi, broken) in cases {
        let s = db.wait_done(ok, T).await;
        assert_eq!(s.status, "completed", "{}: {s:?} {:?}", l.name, db.logs(ok).await);
        assert_eq!(db.stdout(ok).await, ["OK"], "{}", l.name);

        let s = db.wait_done(exit3, T).await;
        assert_eq!(
            (s.status.as_str(), s.exit_code),
            ("failed", Some(3)),
            "{}: {s:?} {:?}",
            l.name,
            db.logs(exit3).await
        );

        let s = db.wait_done(multi, T).await;
        assert_eq!(s.status, "completed", "{}: {s:?} {:?}", l.name, db.logs(multi).await);
        assert_eq!(db.stdout(multi).await, ["OK from util"], "{}", l.name);

        if let Some(broken) = broken {
            let s = db.wait_done(broken, T).await;
            assert_eq!(s.status, "failed", "{}: {s:?}", l.name);
            let err = s.error.as_deref().unwrap_or("");
            assert!(err.contains("compilation failed"), "{}: {s:?}", l.name);
            // The error itself quotes the compiler, not just "see the log".
            assert!(err.contains(l.compile_error.unwrap().1), "{}: {err}", l.name);
            assert!(s.exit_code.is_some_and(|c| c != 0), "{}: the compiler's exit code: {s:?}", l.name);
            // The compiler's messages are logged, marked as the compile stage.
            let c = db.client().await;
            let compile_rows: i64 = c
                .query_one(
                    "select count(*) from execution_logs where session_id = $1 and stage = 'compile'",
                    &[&broken],
                )
                .await
                .unwrap()
                .get(0);
            assert!(compile_rows > 0, "{}: no compiler output logged", l.name);
            let run_rows: i64 = c
                .query_one(
                    "select count(*) from execution_logs where session_id = $1 and stage = 'run' and stream <> 'system'",
                    &[&broken],
                )
                .await
                .unwrap()
                .get(0);
            assert_eq!(run_rows, 0, "{}: nothing ran", l.name);
        }
    }
    w.stop().await.unwrap();
}

#[tokio::test]
async fn compiled_programs_run_under_the_run_stage_limits() {
    let _cpu = compiling().await;
    let db = TestDb::new().await;
    let user = db.user().await;
    let w = db.worker();
    // Compiling needs far more than 64 MB; running this program needs 200 MB.
    let code = "#include <vector>\n#include <cstdio>\nint main() { std::vector<char> v(200 << 20, 1); std::printf(\"%d\\n\", v[12345]); }";
    let mut c = db.client().await;
    let tx = as_user(&mut c, Some(user)).await;
    let id: Uuid = tx
        .query_one("insert into backend_execution_sessions (language, code, memory_limit_mb) values ('cpp', $1, 64) returning id", &[&code])
        .await
        .unwrap()
        .get(0);
    let slow: Uuid = tx
        .query_one(
            "insert into backend_execution_sessions (language, code, compile_timeout_ms) values ('rust', 'fn main() {}', 999999999) returning id",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    tx.commit().await.unwrap();
    let s = db.wait_done(id, T).await;
    assert_eq!(s.status, "failed", "{s:?}");
    assert!(
        s.error.as_deref().unwrap().contains("out of memory") && s.error.as_deref().unwrap().contains("64 MB"),
        "{s:?}"
    );
    let s = db.wait_done(slow, T).await;
    assert_eq!(s.status, "failed");
    assert!(s.error.unwrap().contains("compile_timeout_ms 999999999 is above this server's maximum"));
    w.stop().await.unwrap();
}
