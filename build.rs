//! Embeds the SQL migrations and the runtime image build contexts, so that a
//! lone `execbox` binary (for example inside its own container image) can
//! migrate a database and build its images.

use std::fmt::Write;
use std::path::{Path, PathBuf};

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let mut code = String::new();

    let mut migrations = Vec::new();
    files_under(&root.join("supabase/migrations"), &mut migrations);
    migrations.retain(|p| p.extension().is_some_and(|e| e == "sql"));
    migrations.sort();
    code.push_str("pub static MIGRATIONS: &[(&str, &str)] = &[\n");
    for p in &migrations {
        let stem = p.file_stem().unwrap().to_str().unwrap();
        writeln!(code, "    ({stem:?}, include_str!({:?})),", p.display().to_string()).unwrap();
    }
    code.push_str("];\n");

    let images = root.join("images");
    let mut image_files = Vec::new();
    files_under(&images, &mut image_files);
    image_files.sort();
    code.push_str("pub static IMAGE_FILES: &[(&str, &[u8])] = &[\n");
    for p in &image_files {
        let rel = p.strip_prefix(&images).unwrap().to_str().unwrap();
        writeln!(code, "    ({rel:?}, include_bytes!({:?})),", p.display().to_string()).unwrap();
    }
    code.push_str("];\n");

    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("embedded.rs");
    std::fs::write(out, code).unwrap();
    println!("cargo:rerun-if-changed=supabase/migrations");
    println!("cargo:rerun-if-changed=images");
    for p in migrations.iter().chain(&image_files) {
        println!("cargo:rerun-if-changed={}", p.display());
    }
}
