//! Every language of the runtime table, through the database (its hello
//! world template, a program that fails, one that echoes its stdin, a
//! compile error reported as such from the compile stage, a program of
//! several files) and through Piston's `/api/v2/execute` under Piston's
//! names and file names (an OK program as Piston's package tests print it,
//! the failing, echoing and broken ones).

use std::time::Duration;

use futures::StreamExt;

use execbox::model::Request;
use serde_json::json;
use uuid::Uuid;

use crate::support::*;
use execbox::model::Isolation;

const T: Duration = Duration::from_secs(180);

struct Lang {
    name: &'static str,
    ok: &'static str,
    /// A program that does not compile, and a word of the compiler's complaint.
    compile_error: Option<(&'static str, &'static str)>,
    /// Fails at run time with this exit status: 3, chosen by the program,
    /// where the language can choose it, else its interpreter's own.
    fails: Option<(&'static str, i32)>,
    /// A main file using a second file (None: one file is the language's way).
    multi: Option<(&'static str, &'static str, &'static str)>,
    /// Prints the line it reads (None: it cannot read stdin).
    echo: Option<&'static str>,
    /// As Piston's CI sends `ok`: the language named by its test file's
    /// second dot-part, and that file's name.
    piston: (&'static str, &'static str),
}

const LANGS: &[Lang] = &[
    Lang {
        name: "python",
        ok: "print('OK')",
        compile_error: None,
        fails: Some(("import sys\nsys.exit(3)", 3)),
        multi: Some(("import util\nprint(util.f())", "util.py", "def f():\n    return 'OK from util'\n")),
        echo: Some("print(input())"),
        piston: ("py", "test.py"),
    },
    Lang {
        name: "node",
        ok: "console.log('OK')",
        compile_error: None,
        fails: Some(("process.exit(3)", 3)),
        multi: Some((
            "const u = require('./util.js');\nconsole.log(u.f());",
            "util.js",
            "module.exports = { f: () => 'OK from util' };",
        )),
        echo: Some("process.stdout.write(require('fs').readFileSync(0, 'utf8'));"),
        piston: ("js", "test.js"),
    },
    Lang {
        name: "typescript",
        ok: "const x: string = 'OK';\nconsole.log(x);",
        compile_error: Some(("const x: number = 'not a number';\nconsole.log(x);", "not assignable")),
        fails: Some(("process.exit(3);", 3)),
        multi: Some((
            "import { f } from './util';\nconsole.log(f());",
            "util.ts",
            "export function f(): string { return 'OK from util'; }",
        )),
        echo: Some("process.stdout.write(require('fs').readFileSync(0, 'utf8'));"),
        piston: ("ts", "test.ts"),
    },
    Lang {
        name: "go",
        ok: "package main\nimport \"fmt\"\nfunc main() { fmt.Println(\"OK\") }",
        compile_error: Some(("package main\nfunc main() { undefinedFunction() }", "undefinedFunction")),
        fails: Some(("package main\nimport \"os\"\nfunc main() { os.Exit(3) }", 3)),
        multi: Some((
            "package main\nimport \"fmt\"\nfunc main() { fmt.Println(f()) }",
            "util.go",
            "package main\nfunc f() string { return \"OK from util\" }",
        )),
        echo: Some("package main\nimport (\"bufio\"; \"fmt\"; \"os\")\nfunc main() { s := bufio.NewScanner(os.Stdin); s.Scan(); fmt.Println(s.Text()) }"),
        piston: ("go", "test.go"),
    },
    Lang {
        name: "rust",
        ok: "fn main() { println!(\"OK\"); }",
        compile_error: Some(("fn main() { let x: i32 = \"not a number\"; }", "mismatched types")),
        fails: Some(("fn main() { std::process::exit(3); }", 3)),
        multi: Some((
            "mod util;\nfn main() { println!(\"{}\", util::f()); }",
            "util.rs",
            "pub fn f() -> &'static str { \"OK from util\" }",
        )),
        echo: Some("fn main() { let mut s = String::new(); std::io::stdin().read_line(&mut s).unwrap(); print!(\"{s}\"); }"),
        piston: ("rs", "test.rs"),
    },
    Lang {
        name: "java",
        ok: "public class Main { public static void main(String[] a) { System.out.println(\"OK\"); } }",
        compile_error: Some((
            "public class Main { public static void main(String[] a) { int x = \"not a number\"; } }",
            "incompatible types",
        )),
        fails: Some(("public class Main { public static void main(String[] a) { System.exit(3); } }", 3)),
        multi: Some((
            "public class Main { public static void main(String[] a) { System.out.println(Util.f()); } }",
            "Util.java",
            "public class Util { public static String f() { return \"OK from util\"; } }",
        )),
        echo: Some("public class Main { public static void main(String[] a) { System.out.println(new java.util.Scanner(System.in).nextLine()); } }"),
        piston: ("java", "test.java"),
    },
    Lang {
        name: "cpp",
        ok: "#include <iostream>\nint main() { std::cout << \"OK\" << std::endl; }",
        compile_error: Some(("int main() { return undefined_variable; }", "undefined_variable")),
        fails: Some(("int main() { return 3; }", 3)),
        multi: Some((
            "#include <iostream>\n#include \"util.h\"\nint main() { std::cout << f() << std::endl; }",
            "util.h",
            "inline const char* f() { return \"OK from util\"; }",
        )),
        echo: Some("#include <iostream>\n#include <string>\nint main() { std::string s; std::getline(std::cin, s); std::cout << s << std::endl; }"),
        piston: ("cpp", "test.cpp"),
    },
    Lang {
        name: "c",
        ok: "#include <stdio.h>\nint main(void) { printf(\"OK\\n\"); return 0; }",
        compile_error: Some(("int main(void) { return undefined_thing; }", "undefined_thing")),
        fails: Some(("#include <stdlib.h>\nint main(void) { exit(3); }", 3)),
        multi: Some((
            "#include <stdio.h>\n#include \"util.h\"\nint main(void) { puts(f()); return 0; }",
            "util.h",
            "static const char *f(void) { return \"OK from util\"; }",
        )),
        echo: Some("#include <stdio.h>\nint main(void) { char b[100]; if (fgets(b, sizeof b, stdin)) fputs(b, stdout); return 0; }"),
        piston: ("c", "test.c"),
    },
    Lang {
        name: "bash",
        ok: "echo OK",
        compile_error: None,
        fails: Some(("exit 3", 3)),
        multi: Some(("source ./util.sh\nf", "util.sh", "f() { echo \"OK from util\"; }")),
        echo: Some("read -r x\necho \"$x\""),
        piston: ("bash", "test.bash.sh"),
    },
    Lang {
        name: "dash",
        ok: "echo OK",
        compile_error: None,
        fails: Some(("exit 3", 3)),
        multi: Some((". ./util.sh\nf", "util.sh", "f() { echo \"OK from util\"; }")),
        echo: Some("read -r x\necho \"$x\""),
        piston: ("dash", "test.dash"),
    },
    Lang {
        name: "awk",
        // Piston's own test: one line of input, which Piston's stdin
        // convention gives it even when the request has no stdin.
        ok: "{print \"OK\"}",
        compile_error: None,
        fails: Some(("BEGIN { exit 3 }", 3)),
        multi: Some(("@include \"util.awk\"\nBEGIN { print f() }", "util.awk", "function f() { return \"OK from util\" }")),
        echo: Some("{ print }"),
        piston: ("awk", "test.awk"),
    },
    Lang {
        name: "ruby",
        ok: "puts \"OK\"",
        compile_error: None,
        fails: Some(("exit 3", 3)),
        multi: Some(("require_relative \"util\"\nputs f", "util.rb", "def f\n  \"OK from util\"\nend")),
        echo: Some("puts gets"),
        piston: ("rb", "test.rb"),
    },
    Lang {
        name: "php",
        ok: "<?php echo \"OK\\n\";",
        compile_error: None,
        fails: Some(("<?php exit(3);", 3)),
        multi: Some(("<?php require \"util.php\"; echo f(), \"\\n\";", "util.php", "<?php function f() { return \"OK from util\"; }")),
        echo: Some("<?php echo fgets(STDIN);"),
        piston: ("php", "test.php"),
    },
    Lang {
        name: "perl",
        ok: "print \"OK\\n\";",
        compile_error: None,
        fails: Some(("exit 3;", 3)),
        multi: Some(("require \"./util.pl\";\nprint f(), \"\\n\";", "util.pl", "sub f { \"OK from util\" }\n1;")),
        echo: Some("print scalar <STDIN>;"),
        piston: ("pl", "test.pl"),
    },
    Lang {
        name: "lua",
        ok: "print(\"OK\")",
        compile_error: None,
        fails: Some(("os.exit(3)", 3)),
        multi: Some(("local u = require(\"util\")\nprint(u.f())", "util.lua", "return { f = function() return \"OK from util\" end }")),
        echo: Some("print(io.read(\"l\"))"),
        piston: ("lua", "test.lua"),
    },
    Lang {
        name: "tcl",
        ok: "puts OK",
        compile_error: None,
        fails: Some(("exit 3", 3)),
        multi: Some(("source util.tcl\nputs [f]", "util.tcl", "proc f {} { return \"OK from util\" }")),
        echo: Some("puts [gets stdin]"),
        piston: ("tcl", "test.tcl"),
    },
    Lang {
        name: "d",
        ok: "import std.stdio;\nvoid main() { writeln(\"OK\"); }",
        compile_error: Some(("void main() { undefinedThing(); }", "undefinedThing")),
        fails: Some(("import core.stdc.stdlib;\nvoid main() { exit(3); }", 3)),
        multi: None,
        echo: Some("import std.stdio;\nvoid main() { write(readln()); }"),
        piston: ("d", "test.d"),
    },
    Lang {
        name: "fortran",
        ok: "program ok\n  print '(a)', 'OK'\nend program ok",
        compile_error: Some(("program bad\n  x = = 1\nend program bad", "Error")),
        fails: Some(("program three\n  stop 3\nend program three", 3)),
        multi: None,
        echo: Some("program echo\n  character(len=100) :: s\n  read '(a)', s\n  print '(a)', trim(s)\nend program echo"),
        piston: ("f90", "test.f90"),
    },
    Lang {
        name: "cobol",
        ok: "identification division.\nprogram-id. ok.\nprocedure division.\ndisplay \"OK\"\ngoback.\nend program ok.",
        compile_error: Some(("identification division.\nprogram-id. bad.\nprocedure division.\nfrobnicate \"OK\".\n", "error")),
        fails: Some(("identification division.\nprogram-id. three.\nprocedure division.\nstop run returning 3.\n", 3)),
        multi: None,
        echo: Some(
            "identification division.\nprogram-id. echo.\ndata division.\nworking-storage section.\n01 line-in pic x(100).\nprocedure division.\naccept line-in\ndisplay function trim(line-in)\ngoback.\n",
        ),
        piston: ("cob", "test.cob"),
    },
    Lang {
        name: "pascal",
        ok: "program ok;\nbegin\n  writeln('OK');\nend.",
        compile_error: Some(("program bad;\nbegin\n  undefinedthing;\nend.", "undefinedthing")),
        fails: Some(("program three;\nbegin\n  halt(3);\nend.", 3)),
        multi: None,
        echo: Some("program echo;\nvar s: string;\nbegin\n  readln(s);\n  writeln(s);\nend."),
        piston: ("pp", "test.pp"),
    },
    Lang {
        name: "nasm64",
        ok: "section .data\nmsg: db \"OK\", 10\nsection .text\nglobal _start\n_start:\n  mov rax, 1\n  mov rdi, 1\n  mov rsi, msg\n  mov rdx, 3\n  syscall\n  mov rax, 60\n  xor rdi, rdi\n  syscall",
        compile_error: Some(("section .text\nglobal _start\n_start:\n  frobnicate rax", "instruction expected")),
        fails: Some(("section .text\nglobal _start\n_start:\n  mov rax, 60\n  mov rdi, 3\n  syscall", 3)),
        multi: None,
        echo: Some("section .bss\nbuf: resb 64\nsection .text\nglobal _start\n_start:\n  mov rax, 0\n  mov rdi, 0\n  mov rsi, buf\n  mov rdx, 64\n  syscall\n  mov rdx, rax\n  mov rax, 1\n  mov rdi, 1\n  mov rsi, buf\n  syscall\n  mov rax, 60\n  xor rdi, rdi\n  syscall"),
        piston: ("nasm64", "test.nasm64.asm"),
    },
    Lang {
        name: "nasm",
        ok: "section .data\nmsg: db \"OK\", 10\nsection .text\nglobal _start\n_start:\n  mov eax, 4\n  mov ebx, 1\n  mov ecx, msg\n  mov edx, 3\n  int 0x80\n  mov eax, 1\n  xor ebx, ebx\n  int 0x80",
        compile_error: Some(("section .text\nglobal _start\n_start:\n  frobnicate eax", "instruction expected")),
        fails: Some(("section .text\nglobal _start\n_start:\n  mov eax, 1\n  mov ebx, 3\n  int 0x80", 3)),
        multi: None,
        echo: Some("section .bss\nbuf: resb 64\nsection .text\nglobal _start\n_start:\n  mov eax, 3\n  mov ebx, 0\n  mov ecx, buf\n  mov edx, 64\n  int 0x80\n  mov edx, eax\n  mov eax, 4\n  mov ebx, 1\n  mov ecx, buf\n  int 0x80\n  mov eax, 1\n  xor ebx, ebx\n  int 0x80"),
        piston: ("nasm", "test.nasm.asm"),
    },
    Lang {
        name: "nim",
        ok: "echo \"OK\"",
        compile_error: Some(("undefinedThing()", "undefinedThing")),
        fails: Some(("quit(3)", 3)),
        multi: Some(("import util\necho f()", "util.nim", "proc f*(): string = \"OK from util\"")),
        echo: Some("echo readLine(stdin)"),
        piston: ("nim", "test.nim"),
    },
    Lang {
        name: "sqlite3",
        ok: "SELECT 'OK';",
        compile_error: None,
        fails: Some(("SELECT * FROM nope;", 1)),
        multi: None,
        echo: Some("CREATE TABLE t(x);\n.import /dev/stdin t\nSELECT x FROM t;"),
        piston: ("sql", "test.sql"),
    },
    Lang {
        name: "brainfuck",
        ok: "++++++++[>++++++++++<-]>-.----.>++++++++++.",
        compile_error: None,
        fails: Some(("[", 1)),
        multi: None,
        echo: Some(",[.,]"),
        piston: ("bf", "test.bf"),
    },
    Lang {
        name: "forth",
        ok: ".( OK) cr",
        compile_error: None,
        fails: Some(("3 (bye)", 3)),
        multi: Some(("include util.fs\nf", "util.fs", ": f .\" OK from util\" cr ;")),
        echo: Some("pad 80 stdin read-line throw drop pad swap type cr"),
        piston: ("forth", "test.forth"),
    },
    Lang {
        name: "prolog",
        ok: ":- write('OK'), nl.",
        compile_error: None,
        fails: Some((":- halt(3).", 3)),
        multi: Some((":- consult(util).\n:- f(X), write(X), nl.", "util.pl", "f('OK from util').")),
        echo: Some(":- read_line_to_string(user_input, S), writeln(S)."),
        piston: ("prolog", "test.prolog"),
    },
    Lang {
        name: "ocaml",
        ok: "print_string \"OK\\n\"",
        compile_error: Some(("let () = undefined_thing ()", "Error")),
        fails: Some(("let () = exit 3", 3)),
        multi: None,
        echo: Some("let () = print_endline (read_line ())"),
        piston: ("ml", "test.ml"),
    },
    Lang {
        name: "erlang",
        ok: "%% escript skips its first line\nmain(_) -> io:format(\"OK~n\").",
        compile_error: None,
        fails: Some(("\nmain(_) -> halt(3).", 3)),
        multi: None,
        echo: Some("\nmain(_) -> io:format(\"~s\", [io:get_line(\"\")])."),
        piston: ("erl", "test.erl"),
    },
    Lang {
        name: "elixir",
        ok: "IO.puts(\"OK\")",
        compile_error: None,
        fails: Some(("System.halt(3)", 3)),
        multi: Some((
            "Code.require_file(\"util.exs\")\nIO.puts(Util.f())",
            "util.exs",
            "defmodule Util do\n  def f, do: \"OK from util\"\nend",
        )),
        echo: Some("IO.write(IO.gets(\"\"))"),
        piston: ("exs", "test.exs"),
    },
    Lang {
        name: "lisp",
        ok: "(write-line \"OK\")",
        compile_error: None,
        fails: Some(("(sb-ext:exit :code 3)", 3)),
        multi: Some(("(load \"util.lisp\")\n(write-line (f))", "util.lisp", "(defun f () \"OK from util\")")),
        echo: Some("(write-line (read-line))"),
        piston: ("cl", "test.cl"),
    },
    Lang {
        name: "racket",
        ok: "#lang racket\n(displayln \"OK\")",
        compile_error: None,
        fails: Some(("#lang racket\n(exit 3)", 3)),
        multi: Some((
            "#lang racket\n(require \"util.rkt\")\n(displayln (f))",
            "util.rkt",
            "#lang racket\n(provide f)\n(define (f) \"OK from util\")",
        )),
        echo: Some("#lang racket\n(displayln (read-line))"),
        piston: ("rkt", "test.rkt"),
    },
    Lang {
        name: "scheme",
        ok: "(display \"OK\")\n(newline)",
        compile_error: None,
        fails: Some(("(exit 3)", 3)),
        multi: Some(("(load \"util.scm\")\n(display (f))\n(newline)", "util.scm", "(define (f) \"OK from util\")")),
        echo: Some("(use-modules (ice-9 rdelim))\n(display (read-line))\n(newline)"),
        piston: ("scheme", "test.scm"),
    },
    Lang {
        name: "rscript",
        ok: "cat('OK\\n')",
        compile_error: None,
        fails: Some(("quit(status = 3)", 3)),
        multi: Some(("source('util.r')\ncat(f(), '\\n', sep = '')", "util.r", "f <- function() 'OK from util'")),
        echo: Some("cat(readLines(file('stdin'), n = 1), '\\n', sep = '')"),
        piston: ("r", "test.r"),
    },
    Lang {
        name: "raku",
        ok: "say \"OK\";",
        compile_error: None,
        fails: Some(("exit 3;", 3)),
        multi: None,
        echo: Some("say $*IN.get;"),
        piston: ("raku", "test.raku"),
    },
    Lang {
        name: "coffeescript",
        ok: "console.log \"OK\"",
        compile_error: None,
        fails: Some(("process.exit 3", 3)),
        multi: Some(("u = require './util'\nconsole.log u.f()", "util.coffee", "exports.f = -> 'OK from util'")),
        echo: Some("process.stdout.write require('fs').readFileSync(0, 'utf8')"),
        piston: ("coffee", "test.coffee"),
    },
    Lang {
        name: "emacs",
        ok: "(princ \"OK\\n\")",
        compile_error: None,
        fails: Some(("(kill-emacs 3)", 3)),
        multi: Some(("(load-file \"util.el\")\n(princ (concat (f) \"\\n\"))", "util.el", "(defun f () \"OK from util\")")),
        echo: Some("(princ (concat (read-from-minibuffer \"\") \"\\n\"))"),
        piston: ("el", "test.el"),
    },
    Lang {
        name: "iverilog",
        ok: "module hello;\n  initial begin\n    $display(\"OK\");\n    $finish;\n  end\nendmodule",
        compile_error: Some(("module bad;\n  initial frobnicate;\nendmodule", "error")),
        fails: Some(("module main;\n  initial $fatal(1, \"failing\");\nendmodule", 1)),
        multi: None,
        echo: Some("module main;\n  integer c;\n  initial begin\n    c = $fgetc(32\'h8000_0000);\n    while (c != -1) begin\n      $write(\"%c\", c);\n      c = $fgetc(32\'h8000_0000);\n    end\n    $finish;\n  end\nendmodule"),
        piston: ("verilog", "test.verilog"),
    },
    Lang {
        name: "kotlin",
        ok: "fun main() {\n    println(\"OK\")\n}",
        compile_error: Some(("fun main() {\n    val x: Int = \"not a number\"\n    println(x)\n}", "type mismatch")),
        fails: Some(("fun main() {\n    kotlin.system.exitProcess(3)\n}", 3)),
        multi: Some(("fun main() {\n    println(f())\n}", "util.kt", "fun f(): String = \"OK from util\"")),
        echo: Some("fun main() {\n    println(readLine())\n}"),
        piston: ("kt", "test.kt"),
    },
    Lang {
        name: "groovy",
        ok: "println 'OK'",
        compile_error: None,
        fails: Some(("System.exit(3)", 3)),
        multi: Some(("println Util.f()", "Util.groovy", "class Util { static String f() { 'OK from util' } }")),
        echo: Some("println System.in.newReader().readLine()"),
        piston: ("groovy", "test.groovy"),
    },
    Lang {
        name: "clojure",
        ok: "(println \"OK\")",
        compile_error: None,
        fails: Some(("(System/exit 3)", 3)),
        multi: Some(("(load-file \"util.clj\")\n(println (f))", "util.clj", "(defn f [] \"OK from util\")")),
        echo: Some("(println (read-line))"),
        piston: ("clj", "test.clj"),
    },
    Lang {
        name: "haskell",
        ok: "main = putStrLn \"OK\"",
        compile_error: Some(("main = putStrLn undefinedThing", "undefinedThing")),
        fails: Some(("import System.Exit\nmain = exitWith (ExitFailure 3)", 3)),
        multi: Some(("import Util\nmain = putStrLn f", "Util.hs", "module Util where\nf :: String\nf = \"OK from util\"")),
        echo: Some("main = getLine >>= putStrLn"),
        piston: ("hs", "test.hs"),
    },
    Lang {
        name: "octave",
        ok: "disp('OK')",
        compile_error: None,
        fails: Some(("exit(3)", 3)),
        multi: Some(("disp(util())", "util.m", "function r = util()\n  r = 'OK from util';\nend")),
        echo: Some("disp(fgetl(stdin))"),
        piston: ("octave", "test.octave"),
    },
    Lang {
        name: "csharp",
        ok: "using System;\n\npublic class Test\n{\n    public static void Main(string[] args)\n    {\n        Console.WriteLine(\"OK\");\n    }\n}",
        compile_error: Some(("public class Test { public static void Main() { undefinedThing(); } }", "undefinedThing")),
        fails: Some(("public class Test { public static int Main() { return 3; } }", 3)),
        multi: Some((
            "public class Test { public static void Main() { System.Console.WriteLine(Util.F()); } }",
            "util.cs",
            "public static class Util { public static string F() { return \"OK from util\"; } }",
        )),
        echo: Some("public class Test { public static void Main() { System.Console.WriteLine(System.Console.ReadLine()); } }"),
        piston: ("cs", "test.cs"),
    },
    Lang {
        name: "llvm_ir",
        ok: "@.str = private constant [3 x i8] c\"OK\\00\"\ndeclare i32 @puts(i8*)\ndefine i32 @main() {\n  %p = getelementptr [3 x i8], [3 x i8]* @.str, i64 0, i64 0\n  call i32 @puts(i8* %p)\n  ret i32 0\n}",
        compile_error: Some(("define i32 @main() {\n  ret i32 %nope\n}", "undefined value")),
        fails: Some(("define i32 @main() {\n  ret i32 3\n}", 3)),
        multi: None,
        echo: Some("declare i32 @getchar()\ndeclare i32 @putchar(i32)\ndefine i32 @main() {\nentry:\n  br label %loop\nloop:\n  %c = call i32 @getchar()\n  %eof = icmp slt i32 %c, 0\n  br i1 %eof, label %done, label %put\nput:\n  call i32 @putchar(i32 %c)\n  br label %loop\ndone:\n  ret i32 0\n}"),
        piston: ("ll", "test.ll"),
    },
    Lang {
        name: "crystal",
        ok: "puts \"OK\"",
        compile_error: Some(("puts undefined_thing", "undefined_thing")),
        fails: Some(("exit 3", 3)),
        multi: Some(("require \"./util\"\nputs f", "util.cr", "def f\n  \"OK from util\"\nend")),
        echo: Some("puts gets"),
        piston: ("cr", "test.cr"),
    },
    Lang {
        name: "pypy3",
        ok: "print('OK')",
        compile_error: None,
        fails: Some(("import sys\nsys.exit(3)", 3)),
        multi: Some(("import util\nprint(util.f())", "util.py", "def f():\n    return 'OK from util'\n")),
        echo: Some("print(input())"),
        piston: ("pypy", "test.py"),
    },
    Lang {
        name: "ada",
        ok: "with Ada.Text_IO;\nprocedure Test is\nbegin\n   Ada.Text_IO.Put_Line (\"OK\");\nend Test;",
        compile_error: Some(("procedure Main is\nbegin\n   Undefined_Thing;\nend Main;", "is undefined")),
        fails: Some((
            "with Ada.Command_Line;\nprocedure Main is\nbegin\n   Ada.Command_Line.Set_Exit_Status (3);\nend Main;",
            3,
        )),
        multi: Some((
            "with Ada.Text_IO, Util;\nprocedure Main is\nbegin\n   Ada.Text_IO.Put_Line (Util.F);\nend Main;",
            "util.ads",
            "package Util is\n   F : constant String := \"OK from util\";\nend Util;",
        )),
        echo: Some("with Ada.Text_IO;\nprocedure Main is\nbegin\n   Ada.Text_IO.Put_Line (Ada.Text_IO.Get_Line);\nend Main;"),
        piston: ("ada", "test.adb"),
    },
];
/// A runtime added to runtimes.toml is tested once it has its entry here.
#[test]
fn every_runtime_of_the_table_is_tested() {
    let mut table: Vec<String> =
        execbox::runtimes::Runtimes::builtin().all().iter().map(|rt| rt.language.clone()).collect();
    let mut tested: Vec<String> = LANGS.iter().map(|l| l.name.to_string()).collect();
    table.sort();
    tested.sort();
    assert_eq!(table, tested);
}

async fn submit_files(db: &TestDb, user: Uuid, language: &str, code: &str, files: Option<serde_json::Value>) -> Uuid {
    db.insert(user, &Request { language: language.into(), code: code.into(), files, ..Default::default() }).await
}

/// The language's echo program fed `hello`, when it has one.
async fn submit_echo(db: &TestDb, user: Uuid, l: &Lang) -> Option<Uuid> {
    let code = l.echo?;
    let r = Request { language: l.name.into(), code: code.into(), stdin: Some("hello\n".into()), ..Default::default() };
    Some(db.insert(user, &r).await)
}

#[tokio::test]
async fn every_language_runs_fails_and_compiles_as_it_should() {
    runs_fails_and_compiles(Isolation::Runc).await;
}

/// Under gVisor every language does what it does under runc, to the same
/// outcomes: a compiled one compiles in a sandbox of its own and runs in
/// another, from the /work its compiler left.
#[tokio::test]
async fn every_language_runs_fails_and_compiles_under_gvisor_as_under_runc() {
    runs_fails_and_compiles(Isolation::Gvisor).await;
}

/// Each language's hello template, a failing program, a second file, an
/// echo of stdin and a compile error, in sandboxes behind `wall`.
async fn runs_fails_and_compiles(wall: Isolation) {
    let _cpu = every_language().await;
    let db = TestDb::new().await;
    let user = db.user().await;
    let w = db.worker_with(|c| {
        c.worker.max_concurrent_runs = 2;
        c.limits.isolation = wall;
    });
    let mut cases = Vec::new();
    let runtimes = execbox::runtimes::Runtimes::builtin();
    for l in LANGS {
        // The runtime's own hello world (the playground's template).
        let hello = &runtimes.resolve(l.name).unwrap().hello;
        let ok = submit_files(&db, user, l.name, hello, None).await;
        let fails = match l.fails {
            Some((code, status)) => Some((submit_files(&db, user, l.name, code, None).await, status)),
            None => None,
        };
        let multi = match l.multi {
            Some((main, name, content)) => {
                Some(submit_files(&db, user, l.name, main, Some(json!([{"name": name, "content": content}]))).await)
            }
            None => None,
        };
        let echo = submit_echo(&db, user, l).await;
        let broken = match l.compile_error {
            Some((code, _)) => Some(submit_files(&db, user, l.name, code, None).await),
            None => None,
        };
        cases.push((l, ok, fails, multi, echo, broken));
    }
    for (l, ok, fails, multi, echo, broken) in cases {
        let s = db.wait_done(ok, T).await;
        assert_eq!(s.status, SessionStatus::Completed, "{}: {s:?} {:?}", l.name, db.logs(ok).await);
        assert_eq!(db.stdout(ok).await, ["Hello, world!"], "{}: its hello template", l.name);
        let usage = db.usage(ok).await;
        // Its own wall where its runtime names one (with the reason).
        let own = runtimes.resolve(l.name).unwrap().isolation.unwrap_or(wall);
        assert_eq!(usage["isolation"], own.as_str(), "{}: {usage}", l.name);
        let compiled = runtimes.resolve(l.name).unwrap().compile.is_some();
        // The compiler's usage is recorded, from its own sandbox under gVisor.
        assert_eq!(usage["compile"].is_object(), compiled, "{}: {usage}", l.name);

        if let Some((fails, status)) = fails {
            let s = db.wait_done(fails, T).await;
            let logs = db.logs(fails).await;
            assert_eq!((s.status, s.exit_code), (SessionStatus::Failed, Some(status)), "{}: {s:?} {logs:?}", l.name);
        }

        if let Some(multi) = multi {
            let s = db.wait_done(multi, T).await;
            assert_eq!(s.status, SessionStatus::Completed, "{}: {s:?} {:?}", l.name, db.logs(multi).await);
            assert_eq!(db.stdout(multi).await, ["OK from util"], "{}", l.name);
        }

        if let Some(echo) = echo {
            let s = db.wait_done(echo, T).await;
            assert_eq!(s.status, SessionStatus::Completed, "{}: {s:?} {:?}", l.name, db.logs(echo).await);
            assert_eq!(db.stdout(echo).await, ["hello"], "{}", l.name);
        }

        if let Some(broken) = broken {
            let s = db.wait_done(broken, T).await;
            assert_eq!(s.status, SessionStatus::Failed, "{}: {s:?}", l.name);
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

/// Each language's programs through `/api/v2/execute` as Piston's CI sends
/// its package tests (the language named as the test file names it, the
/// file under its own name), answered in Piston's fields.
#[tokio::test]
async fn every_language_answers_piston_requests_by_pistons_names() {
    let _cpu = every_language().await;
    let db = TestDb::new().await;
    let user = db.user().await;
    let mut cfg = crate::api::api_config(&db);
    cfg.api.max_active_sessions_per_user = 100;
    // Four requests a language, well above a user's default rate.
    cfg.api.rate_limit_per_minute = 10_000;
    cfg.worker.max_concurrent_runs = 2;
    let api = crate::api::Api::start(cfg, true).await;
    let token = crate::api::user_token(user);
    // Each language's OK program, a program that fails, one that echoes
    // its stdin (Piston ends it with a newline) and one that does not
    // compile, each under the name of the language's Piston test file.
    #[derive(Debug)]
    enum Expect {
        Ok,
        Fails(i32),
        Echo,
        Broken(&'static str),
    }
    let mut requests = Vec::new();
    for l in LANGS {
        let (language, file) = l.piston;
        let body =
            |code: &str| json!({"language": language, "version": "*", "files": [{"name": file, "content": code}]});
        requests.push((l.name, Expect::Ok, body(l.ok)));
        if let Some((code, status)) = l.fails {
            requests.push((l.name, Expect::Fails(status), body(code)));
        }
        if let Some(code) = l.echo {
            let mut b = body(code);
            b["stdin"] = json!("hello");
            requests.push((l.name, Expect::Echo, b));
        }
        if let Some((code, word)) = l.compile_error {
            requests.push((l.name, Expect::Broken(word), body(code)));
        }
    }
    // As many in flight as the worker runs at once: each request waits for
    // its own session only.
    let answers: Vec<_> = futures::stream::iter(requests.into_iter().map(|(name, expect, body)| {
        let (api, token) = (&api, &token);
        async move { (name, expect, crate::api::post(api, "/api/v2/execute", Some(token), body).await) }
    }))
    .buffer_unordered(2)
    .collect()
    .await;
    // Piston's Java convention: a public class of any name, in a file of
    // any name.
    let hello = "public class HelloWorld {\n    public static void main(String[] args) {\n        System.out.println(\"OK\");\n    }\n}\n";
    let body = |version: &str| json!({"language": "java", "version": version, "files": [{"name": "test.java", "content": hello}]});
    let (status, v) = crate::api::post(&api, "/api/v2/execute", Some(&token), body("17.0")).await;
    assert_eq!((status, v["run"]["stdout"].as_str()), (200, Some("OK\n")), "{v}");
    // A version no runtime has: Piston's 400, in Piston's words.
    let (status, v) = crate::api::post(&api, "/api/v2/execute", Some(&token), body("15.0.2")).await;
    assert_eq!((status, v["message"].as_str()), (400, Some("java-15.0.2 runtime is unknown")), "{v}");
    for (name, expect, (status, v)) in answers {
        assert_eq!(status, 200, "{name} {expect:?}: {v}");
        let run = (v["run"]["stdout"].as_str(), v["run"]["code"].as_i64());
        match expect {
            Expect::Ok => assert_eq!(run, (Some("OK\n"), Some(0)), "{name}: {v}"),
            Expect::Echo => assert_eq!(run, (Some("hello\n"), Some(0)), "{name} echo: {v}"),
            Expect::Fails(code) => assert_eq!(run.1, Some(code.into()), "{name} fails: {v}"),
            Expect::Broken(word) => {
                assert!(v["compile"]["code"].as_i64().is_some_and(|c| c != 0), "{name} broken: {v}");
                let said = v["compile"]["output"].as_str().unwrap_or("");
                assert!(said.contains(word), "{name}: the compiler's words, {word:?}: {v}");
            }
        }
    }
    api.stop().await;
}

#[tokio::test]
async fn python_has_the_scientific_libraries() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let w = db.worker();
    let code = "import numpy as np, pandas as pd, scipy.optimize, sympy\n\
                from sklearn.linear_model import LinearRegression\n\
                m = LinearRegression().fit(np.array([[0], [1], [2]]), np.array([1, 3, 5]))\n\
                root = scipy.optimize.brentq(lambda x: x * x - 4, 0, 5)\n\
                print(int(np.arange(4).sum()), pd.DataFrame({'a': [1, 2]}).a.sum(), round(m.coef_[0]), round(root),\n\
                      sympy.factor('x**2 - 1'))";
    let id = db
        .insert(
            user,
            &Request {
                language: "python".into(),
                code: code.into(),
                // Loading them takes seconds, and more on a busy machine.
                timeout_ms: Some(60_000),
                ..Default::default()
            },
        )
        .await;
    let s = db.wait_done(id, T).await;
    assert_eq!(s.status, SessionStatus::Completed, "{s:?} {:?}", db.logs(id).await);
    assert_eq!(db.stdout(id).await, ["6 3 2 2 (x - 1)*(x + 1)"]);
    w.stop().await.unwrap();
}

/// A compiled program runs under the run stage's limits, not the
/// compiler's: under runc the sandbox's are lowered between the stages,
/// under gVisor the program gets a sandbox of its own.
#[tokio::test]
async fn compiled_programs_run_under_the_run_stage_limits() {
    let _cpu = compiling().await;
    let db = TestDb::new().await;
    let user = db.user().await;
    for wall in [Isolation::Runc, Isolation::Gvisor] {
        let w = db.worker_with(|c| c.limits.isolation = wall);
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
        assert_eq!((s.status, s.end_reason), (SessionStatus::Failed, Some(EndReason::MemoryLimit)), "{wall:?}: {s:?}");
        let ran: String =
            c.query_one("select isolation from backend_execution_sessions where id = $1", &[&id]).await.unwrap().get(0);
        assert_eq!(ran, wall.as_str());
        assert!(
            s.error.as_deref().unwrap().contains("out of memory") && s.error.as_deref().unwrap().contains("64 MB"),
            "{wall:?}: {s:?}"
        );
        let s = db.wait_done(slow, T).await;
        assert_eq!(s.status, SessionStatus::Failed);
        assert!(s.error.unwrap().contains("compile_timeout_ms 999999999 is above this server's maximum"));
        w.stop().await.unwrap();
    }
}
