//! The layout rules of ARCHITECTURE.md, checked on the source tree:
//! - imports point down the layers, and no two modules import each other (directly or
//!   around a cycle);
//! - no Rust file over 1,200 lines unless its header says why;
//! - every folder's `mod.rs` opens with a `//!` header saying what it owns and whom it uses;
//! - ARCHITECTURE.md's module table names exactly the modules in `src/`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The core's modules, lowest layer first. A module may use modules of its own layer or
/// below; `node` composes everything. `api::dto` is the vocabulary every layer speaks (plain
/// data, exported to TypeScript, importing nothing of the crate), so it counts as its own
/// module at the bottom.
const LAYERS: &[&[&str]] = &[
    &["api::dto"],
    &["infra", "config"],
    &["net", "transfer"],
    &["catalog", "sharing", "mirror", "chat"],
    &["api", "fuzz"],
    &["server"],
    &["node"],
];

/// Longest Rust file, in lines, unless its header says why it is longer.
const MAX_LINES: usize = 1200;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The core's files (the `hearth` binary is a client, not part of the core).
fn core_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    files.retain(|f| !f.starts_with(src().join("bin")));
    files.sort();
    files
}

/// The module a file belongs to: its first path component under `src/` (`api::dto` for the
/// API's data types).
fn module_of(file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src()).ok()?;
    let mut parts = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned());
    let first = parts.next()?;
    let first = first.trim_end_matches(".rs").to_owned();
    if first == "lib" {
        return None;
    }
    if first == "api" {
        if let Some(second) = parts.next() {
            if second == "dto" || second == "dto.rs" {
                return Some("api::dto".into());
            }
        }
    }
    Some(first)
}

/// The modules a file names through `crate::...` paths (comments and strings included, on
/// purpose: a doc link that points up is also a dependency in the reader's head).
fn uses(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if rest.starts_with('{') {
            // `use crate::{a::x, b};`: every name at the top of the braces.
            let end = rest.find('}').unwrap_or(rest.len());
            for part in rest[1..end].split(',') {
                let name: String = part
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    found.insert(qualify(&name, &part.trim()[name.len()..]));
                }
            }
            continue;
        }
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            found.insert(qualify(&name, &rest[name.len()..]));
        }
    }
    found
}

/// `api` followed by `::dto` is the vocabulary, not the API.
fn qualify(name: &str, after: &str) -> String {
    if name == "api" && after.starts_with("::dto") {
        "api::dto".into()
    } else {
        name.into()
    }
}

fn layer(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// Which module uses which, from every core file.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in core_files() {
        let Some(module) = module_of(&file) else {
            continue;
        };
        let text = std::fs::read_to_string(&file).unwrap();
        let entry = graph.entry(module.clone()).or_default();
        for used in uses(&text) {
            if used != module && used != "self" && used != "super" {
                entry.insert(used);
            }
        }
    }
    graph
}

#[test]
fn every_module_has_a_layer() {
    let unknown: Vec<String> = graph()
        .keys()
        .filter(|m| layer(m).is_none())
        .cloned()
        .collect();
    assert!(
        unknown.is_empty(),
        "modules missing from LAYERS (and from ARCHITECTURE.md's rules): {unknown:?}"
    );
}

#[test]
fn imports_point_down_the_layers() {
    let mut upward = Vec::new();
    for (module, used) in graph() {
        let Some(own) = layer(&module) else { continue };
        for u in used {
            if let Some(theirs) = layer(&u) {
                if theirs > own {
                    upward.push(format!("{module} -> {u}"));
                }
            }
        }
    }
    assert!(upward.is_empty(), "imports that point up: {upward:?}");
}

#[test]
fn no_import_cycle_between_modules() {
    let graph = graph();
    // Depth-first search for a back edge; reports one cycle with its path.
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    for module in graph.keys() {
        if let Some(cycle) = visit(module, &graph, &mut Vec::new(), &mut done) {
            panic!("import cycle: {}", cycle.join(" -> "));
        }
    }
}

#[test]
fn no_rust_file_is_over_the_limit_unless_it_says_why() {
    let mut files = core_files();
    for dir in ["tests", "benches", "src-tauri/src"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        if path.is_dir() {
            rust_files(&path, &mut files);
        }
    }
    let mut long = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let lines = text.lines().count();
        let header: String = text
            .lines()
            .take_while(|l| l.starts_with("//!") || l.starts_with("#!") || l.is_empty())
            .collect::<Vec<_>>()
            .join("\n");
        if lines > MAX_LINES && !header.contains("1,200 lines") {
            long.push(format!("{} ({lines} lines)", file.display()));
        }
    }
    assert!(
        long.is_empty(),
        "over {MAX_LINES} lines without a header line saying why it is longer than 1,200 \
         lines: {long:?}"
    );
}

#[test]
fn every_folder_module_says_what_it_owns() {
    let mut missing = Vec::new();
    for file in core_files() {
        if file.file_name().is_some_and(|n| n == "mod.rs") {
            let text = std::fs::read_to_string(&file).unwrap();
            let header: Vec<&str> = text.lines().take_while(|l| l.starts_with("//!")).collect();
            if header.len() < 2 {
                missing.push(file.display().to_string());
            }
        }
    }
    assert!(
        missing.is_empty(),
        "folders whose mod.rs has no `//!` header of what it owns and uses: {missing:?}"
    );
}

#[test]
fn the_architecture_table_names_the_modules_in_src() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("ARCHITECTURE.md"))
            .unwrap();
    // The table under "Modules and who may use whom": rows that start with a module name.
    let section = doc
        .split("## Modules and who may use whom")
        .nth(1)
        .expect("ARCHITECTURE.md has a section \"Modules and who may use whom\"");
    let table: BTreeSet<String> = section
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .filter_map(|l| {
            let cell = l.split('|').nth(1)?.trim();
            let name = cell.strip_prefix('`')?.strip_suffix('`')?;
            Some(name.to_owned())
        })
        .collect();
    let modules: BTreeSet<String> = graph().into_keys().collect();
    let undocumented: Vec<&String> = modules.difference(&table).collect();
    let stale: Vec<&String> = table.difference(&modules).collect();
    assert!(
        undocumented.is_empty() && stale.is_empty(),
        "ARCHITECTURE.md's module table is out of date: missing {undocumented:?}, \
         naming modules that no longer exist {stale:?}"
    );
}
