//! No import cycle between the crate's top-level modules (`src/<module>.rs` or `src/<module>/`).
//!
//! Reads every source file of each top-level module, collects the modules it names through
//! `crate::X` (paths and `use crate::{X, Y::..}` groups; comments and `#[cfg(test)]` modules
//! skipped: a unit test may reach across; so are items under `#[cfg(feature = "conformance")]`,
//! the test-only build that plugs the conformance suite's fixtures into the MCP server: the
//! product has no such edge), and fails naming the cycle when the dependency graph has one. Cheap enough to run with the suite, so a cycle fails CI where it is introduced.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read src")
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The code of a file without comments and without its `#[cfg(test)] mod ... { }` blocks.
fn product_code(text: &str) -> String {
    let mut code = String::new();
    let mut lines = text.lines().peekable();
    let mut skip_depth: Option<i64> = None;
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if let Some(depth) = skip_depth.as_mut() {
            *depth += line.matches('{').count() as i64 - line.matches('}').count() as i64;
            if *depth <= 0 {
                skip_depth = None;
            }
            continue;
        }
        if trimmed.starts_with("#[cfg(test)]")
            && lines
                .peek()
                .is_some_and(|n| n.trim_start().starts_with("mod ") && n.contains('{'))
        {
            let open = lines.next().unwrap_or_default();
            let depth = open.matches('{').count() as i64 - open.matches('}').count() as i64;
            if depth > 0 {
                skip_depth = Some(depth);
            }
            continue;
        }
        if trimmed.starts_with("#[cfg(feature = \"conformance\")]") {
            // The next item or statement, with its block if it opens one.
            let next = lines.next().unwrap_or_default();
            let depth = next.matches('{').count() as i64 - next.matches('}').count() as i64;
            if depth > 0 {
                skip_depth = Some(depth);
            }
            continue;
        }
        if trimmed.starts_with("//") {
            continue;
        }
        let line = match line.find("//") {
            // A trailing comment (not a `://` inside a string such as a URL).
            Some(i) if !line[..i].ends_with(':') && line[..i].matches('"').count() % 2 == 0 => &line[..i],
            _ => line,
        };
        code.push_str(line);
        code.push('\n');
    }
    code
}

fn ident_at(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// Top-level module names a piece of code refers to through `crate::`.
fn referenced(code: &str) -> BTreeSet<String> {
    referenced_after(code, "crate::")
}

/// The first path segments after `prefix` (`crate::`, `super::`, `crate::cli::`).
fn referenced_after(code: &str, prefix: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in code.match_indices(prefix) {
        if i > 0 && code[..i].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == '$' || c == ':') {
            continue; // `$crate::` in macros, `foo_crate::`, `a::super::`
        }
        let rest = &code[i + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // `crate::{a::b, c, d::{e, f}}`: the names at depth one.
            let mut depth = 1;
            let mut expect_name = true;
            let mut chars = group.char_indices();
            while let Some((j, c)) = chars.next() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    ',' if depth == 1 => expect_name = true,
                    c if depth == 1 && expect_name && (c.is_ascii_alphabetic() || c == '_') => {
                        let name = ident_at(&group[j..]);
                        out.insert(name.to_owned());
                        expect_name = false;
                        for _ in 1..name.len() {
                            chars.next();
                        }
                    }
                    _ => {}
                }
            }
        } else {
            out.insert(ident_at(rest).to_owned());
        }
    }
    out
}

fn module_graph(src: &Path) -> BTreeMap<String, BTreeMap<String, PathBuf>> {
    let mut modules = BTreeMap::new();
    for entry in std::fs::read_dir(src).expect("read src").flatten() {
        let path = entry.path();
        let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_owned();
        if matches!(name.as_str(), "lib" | "main" | "bin") {
            continue;
        }
        if path.is_dir() || path.extension().is_some_and(|e| e == "rs") {
            modules.insert(name, path);
        }
    }
    let mut graph = BTreeMap::new();
    for (name, path) in &modules {
        let mut files = Vec::new();
        match path.is_dir() {
            true => rust_files(path, &mut files),
            false => files.push(path.clone()),
        }
        let mut deps: BTreeMap<String, PathBuf> = BTreeMap::new();
        for f in files {
            let text = std::fs::read_to_string(&f).expect("read source");
            for dep in referenced(&product_code(&text)) {
                if dep != *name && modules.contains_key(&dep) {
                    deps.entry(dep).or_insert_with(|| f.clone());
                }
            }
        }
        graph.insert(name.clone(), deps);
    }
    graph
}

/// One cycle through the graph, as the modules in order (first repeated at the end).
fn find_cycle(graph: &BTreeMap<String, BTreeMap<String, PathBuf>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeMap<String, PathBuf>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(node.to_owned(), 1);
        stack.push(node.to_owned());
        for dep in graph.get(node).into_iter().flat_map(|d| d.keys()) {
            match state.get(dep).copied().unwrap_or(0) {
                1 => {
                    let start = stack.iter().position(|n| n == dep).unwrap_or(0);
                    let mut cycle = stack[start..].to_vec();
                    cycle.push(dep.clone());
                    return Some(cycle);
                }
                0 => {
                    if let Some(c) = visit(dep, graph, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(node.to_owned(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in graph.keys() {
        if state.get(node).copied().unwrap_or(0) == 0
            && let Some(c) = visit(node, graph, &mut state, &mut Vec::new())
        {
            return Some(c);
        }
    }
    None
}

#[test]
fn no_import_cycle_between_top_level_modules() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = module_graph(&src);
    assert!(graph.contains_key("cli") && graph.contains_key("domain"), "{graph:?}");
    if let Some(cycle) = find_cycle(&graph) {
        let edges: Vec<String> = cycle
            .windows(2)
            .map(|w| format!("  {} -> {} (e.g. {})", w[0], w[1], graph[&w[0]][&w[1]].display()))
            .collect();
        panic!("import cycle: {}\n{}", cycle.join(" -> "), edges.join("\n"));
    }
}

#[test]
fn the_scanner_sees_grouped_imports_and_skips_comments_and_unit_tests() {
    let code = product_code(
        "use crate::{a::B, c, d::{e, f}};\n// crate::g\nfn x() { crate::h::y(); } // crate::i\n\
         #[cfg(test)]\nmod tests {\n    use crate::j;\n}\nfn z() { $crate::k; \"https://x\"; }\n",
    );
    let found: Vec<String> = referenced(&code).into_iter().collect();
    assert_eq!(found, ["a", "c", "d", "h"]);
    let mut graph = BTreeMap::new();
    graph.insert(
        "a".to_owned(),
        BTreeMap::from([("b".to_owned(), PathBuf::from("a.rs"))]),
    );
    graph.insert(
        "b".to_owned(),
        BTreeMap::from([("a".to_owned(), PathBuf::from("b.rs"))]),
    );
    assert_eq!(find_cycle(&graph), Some(vec!["a".into(), "b".into(), "a".into()]));
}

/// The same rule inside `cli/`: the command files and shared helpers form no cycle, and no file
/// imports from `cli/mod.rs` (which imports them all): an item of mod.rs used by a child counts
/// as an edge to `mod`.
#[test]
fn no_import_cycle_between_cli_files() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/cli");
    let mut files = Vec::new();
    rust_files(&dir, &mut files);
    let name_of = |p: &Path| p.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_owned();
    let names: BTreeSet<String> = files.iter().map(|p| name_of(p)).collect();
    let mut graph: BTreeMap<String, BTreeMap<String, PathBuf>> = BTreeMap::new();
    for f in &files {
        let me = name_of(f);
        let code = product_code(&std::fs::read_to_string(f).expect("read source"));
        let mut deps = BTreeMap::new();
        if me == "mod" {
            for m in names
                .iter()
                .filter(|n| *n != "mod" && code.contains(&format!("mod {n};")))
            {
                deps.insert(m.clone(), f.clone());
            }
        } else {
            let mut used = referenced_after(&code, "super::");
            used.extend(referenced_after(&code, "crate::cli::"));
            for u in used {
                let target = if names.contains(&u) { u } else { "mod".to_owned() };
                if target != me {
                    deps.insert(target, f.clone());
                }
            }
        }
        graph.insert(me, deps);
    }
    assert!(graph["mod"].len() > 10, "{graph:?}");
    if let Some(cycle) = find_cycle(&graph) {
        let edges: Vec<String> = cycle
            .windows(2)
            .map(|w| format!("  {} -> {} (e.g. {})", w[0], w[1], graph[&w[0]][&w[1]].display()))
            .collect();
        panic!("import cycle in cli/: {}\n{}", cycle.join(" -> "), edges.join("\n"));
    }
}
