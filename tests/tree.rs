//! The shape of the tree, checked: no import circle between the top modules or between the files
//! of one module, nothing below `api` imports `api`, no source file over 450 lines and no
//! function over 80 lines outside tests and the benchmark.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use syn::visit::Visit;

const MAX_FILE_LINES: usize = 450;
const MAX_FN_LINES: usize = 80;

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn src() -> (PathBuf, Vec<PathBuf>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &mut files);
    files.sort();
    (root, files)
}

/// The module a library file belongs to, as a path of names (`["api", "pk"]`); None for the binary.
fn module_of(root: &Path, file: &Path) -> Option<Vec<String>> {
    let rel = file.strip_prefix(root).ok()?;
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string()).collect();
    if parts.first().is_some_and(|p| p == "bin") {
        return None;
    }
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    Some(parts)
}

/// The `crate::a::b` paths a file names (in `use` lines and in code), as module paths.
fn crate_paths(text: &str, me: &[String]) -> BTreeSet<Vec<String>> {
    let mut out = BTreeSet::new();
    let code: String = text.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + 7..];
        let path: Vec<String> = rest
            .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .next()
            .unwrap_or("")
            .split("::")
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        out.insert(path);
    }
    // `super::x` from a file of module m names m's sibling x.
    let parent: Vec<String> = if me.len() > 1 { me[..me.len() - 1].to_vec() } else { vec![] };
    for (i, _) in code.match_indices("super::") {
        let rest = &code[i + 7..];
        let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        if !name.is_empty() {
            out.insert(parent.iter().cloned().chain([name]).collect());
        }
    }
    out
}

fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut found = Vec::new();
    for a in edges.keys() {
        for b in edges.get(a).into_iter().flatten() {
            if a < b && edges.get(b).is_some_and(|e| e.contains(a)) {
                found.push(format!("{a} <-> {b}"));
            }
        }
    }
    // Longer circles: a reaches itself.
    for start in edges.keys() {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<&String> = edges[start].iter().collect();
        while let Some(n) = stack.pop() {
            if n == start {
                found.push(format!("{start} reaches itself"));
                break;
            }
            if seen.insert(n.clone()) {
                stack.extend(edges.get(n).into_iter().flatten());
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

#[test]
fn no_import_circle_and_nothing_below_api_imports_api() {
    let (root, files) = src();
    let mut top: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut inner: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut up = Vec::new();
    for f in &files {
        let Some(me) = module_of(&root, f) else { continue };
        let Some(my_top) = me.first().cloned() else { continue };
        let text = std::fs::read_to_string(f).unwrap();
        for p in crate_paths(&text, &me) {
            let Some(to_top) = p.first().cloned() else { continue };
            if to_top != my_top {
                if to_top == "api" {
                    up.push(format!("{} imports {}", f.display(), p.join("::")));
                }
                top.entry(my_top.clone()).or_default().insert(to_top);
            } else if me.len() >= 2 && p.len() >= 2 && p[..me.len() - 1] == me[..me.len() - 1] {
                // Files side by side in one folder.
                let (a, b) = (me.join("::"), p[..me.len()].join("::"));
                if a != b && files.iter().any(|g| module_of(&root, g).as_deref() == Some(&p[..me.len()])) {
                    inner.entry(a).or_default().insert(b);
                }
            }
        }
    }
    assert!(up.is_empty(), "below api, nothing imports api:\n{}", up.join("\n"));
    let c = cycles(&top);
    assert!(c.is_empty(), "import circles between top modules: {c:?}\n{top:#?}");
    let c = cycles(&inner);
    assert!(c.is_empty(), "import circles between files of one module: {c:?}");
}

#[test]
fn no_source_file_over_450_lines() {
    let (_, files) = src();
    let long: Vec<String> = files
        .iter()
        .map(|f| (f, std::fs::read_to_string(f).unwrap().lines().count()))
        .filter(|(_, n)| *n > MAX_FILE_LINES)
        .map(|(f, n)| format!("{} ({n} lines)", f.display()))
        .collect();
    assert!(long.is_empty(), "files over {MAX_FILE_LINES} lines:\n{}", long.join("\n"));
}

struct Fns<'a> {
    file: &'a Path,
    long: Vec<String>,
}

impl Fns<'_> {
    fn check(&mut self, name: &syn::Ident, span: proc_macro2::Span) {
        let n = span.end().line - span.start().line + 1;
        if n > MAX_FN_LINES {
            self.long.push(format!("{}: {name} ({n} lines)", self.file.display()));
        }
    }
}

fn is_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        let s = quote_attr(a);
        s.contains("test")
    })
}

fn quote_attr(a: &syn::Attribute) -> String {
    match &a.meta {
        syn::Meta::Path(p) => p.segments.iter().map(|s| s.ident.to_string()).collect::<Vec<_>>().join("::"),
        syn::Meta::List(l) => format!(
            "{}({})",
            l.path.segments.iter().map(|s| s.ident.to_string()).collect::<Vec<_>>().join("::"),
            l.tokens
        ),
        syn::Meta::NameValue(_) => String::new(),
    }
}

impl<'ast> Visit<'ast> for Fns<'_> {
    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        if !is_test(&m.attrs) {
            syn::visit::visit_item_mod(self, m);
        }
    }
    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        if !is_test(&f.attrs) {
            self.check(&f.sig.ident, syn::spanned::Spanned::span(f));
            syn::visit::visit_item_fn(self, f);
        }
    }
    fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
        if !is_test(&f.attrs) {
            self.check(&f.sig.ident, syn::spanned::Spanned::span(f));
            syn::visit::visit_impl_item_fn(self, f);
        }
    }
}

#[test]
fn no_function_over_80_lines_outside_tests_and_the_bench() {
    let (root, files) = src();
    let mut long = Vec::new();
    for f in files.iter().filter(|f| !f.starts_with(root.join("bin/costream/bench"))) {
        let ast = syn::parse_file(&std::fs::read_to_string(f).unwrap()).unwrap();
        let mut v = Fns { file: f, long: Vec::new() };
        v.visit_file(&ast);
        long.extend(v.long);
    }
    assert!(long.is_empty(), "functions over {MAX_FN_LINES} lines:\n{}", long.join("\n"));
}
