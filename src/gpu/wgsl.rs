//! The kernels' WGSL as compiled: shaders/common.wgsl before each module, and the parts every
//! kernel shares written once here and expanded where a shader names them:
//!
//! - `KERNEL(name)` opens a block kernel: its entry point with the workgroup size, the check that
//!   the invocation is inside the job, and its block (`bx`, `by`).
//! - `SAMPLE8(q, expr)`: the block's 8 pixel centres, `q00`..`q31`, each `expr` with `#` for the pixel.
//! - `BLEND8_ALPHA(q, b)`: blends samples whose alpha is their `w` over block `b` and stores it.
//! - `BLEND8(q, b, k0, k1)`: blends rgb samples with the row coverages `k0`, `k1` and stores it.
//! - `WG_X`, `WG_Y`: the workgroup size; `MAX_TILES`: the tiles a scene holds (Rust's constant).

use super::scene::MAX_TILES;

const COMMON_WGSL: &str = include_str!("../../shaders/common.wgsl");
const COMPOSITE_WGSL: &str = include_str!("../../shaders/composite.wgsl");
const BLUR_WGSL: &str = include_str!("../../shaders/blur.wgsl");
const LAYERS_WGSL: &str = include_str!("../../shaders/layers.wgsl");

/// The shader modules, by name.
pub(super) const MODULES: [&str; 3] = ["composite", "blur", "layers"];

/// The 8 pixel centres of a block, as offsets from its first: (name suffix, offset expression).
const PIXELS: [(&str, &str); 8] = [
    ("00", "p"),
    ("10", "p + vec2<f32>(1.0, 0.0)"),
    ("20", "p + vec2<f32>(2.0, 0.0)"),
    ("30", "p + vec2<f32>(3.0, 0.0)"),
    ("01", "p + vec2<f32>(0.0, 1.0)"),
    ("11", "p + vec2<f32>(1.0, 1.0)"),
    ("21", "p + vec2<f32>(2.0, 1.0)"),
    ("31", "p + vec2<f32>(3.0, 1.0)"),
];

/// The WGSL of a module as compiled, with the workgroup size filled in.
pub(super) fn module_source(module: &str, workgroup: (u32, u32)) -> String {
    let src = match module {
        "composite" => COMPOSITE_WGSL,
        "blur" => BLUR_WGSL,
        _ => LAYERS_WGSL,
    };
    expand(&format!("{COMMON_WGSL}\n{src}"))
        .replace("WG_X", &workgroup.0.to_string())
        .replace("WG_Y", &workgroup.1.to_string())
        .replace("MAX_TILES", &MAX_TILES.to_string())
}

/// The arguments of a directive line `NAME(a, b, …)` (None: not that directive). Arguments are
/// split at top-level commas only.
fn args<'a>(line: &'a str, name: &str) -> Option<Vec<&'a str>> {
    // `KERNEL(name) {` opens the kernel's body: the brace is part of what it stands for.
    let line = line.trim().trim_end_matches('{').trim_end().trim_end_matches(';');
    let inner = line.strip_prefix(name)?.strip_prefix('(')?.strip_suffix(')')?;
    let (mut out, mut depth, mut start) = (Vec::new(), 0i32, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '(' | '<' => depth += 1,
            ')' | '>' => depth -= 1,
            ',' if depth == 0 => {
                out.push(inner[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(inner[start..].trim());
    Some(out)
}

fn kernel(name: &str) -> String {
    format!(
        "@compute @workgroup_size(WG_X, WG_Y, 1)\n\
         fn {name}(@builtin(global_invocation_id) gid: vec3<u32>) {{\n\
         \x20   if (outside_job(gid)) {{\n\
         \x20       return;\n\
         \x20   }}\n\
         \x20   let bxy = job_block(gid);\n\
         \x20   let bx = bxy.x;\n\
         \x20   let by = bxy.y;\n"
    )
}

fn sample8(q: &str, expr: &str) -> String {
    PIXELS.iter().map(|(n, at)| format!("    let {q}{n} = {};\n", expr.replace('#', at))).collect()
}

fn blend8(q: &str, b: &str, k: Option<(&str, &str)>) -> String {
    let (suffix, mut out) = if k.is_some() { ("", String::new()) } else { (".xyz", String::new()) };
    let (k0, k1) = match k {
        Some(k) => k,
        None => {
            out.push_str(&format!("    let k0 = vec4<f32>({q}00.w, {q}10.w, {q}20.w, {q}30.w);\n"));
            out.push_str(&format!("    let k1 = vec4<f32>({q}01.w, {q}11.w, {q}21.w, {q}31.w);\n"));
            ("k0", "k1")
        }
    };
    let qs: Vec<String> = PIXELS.iter().map(|(n, _)| format!("{q}{n}{suffix}")).collect();
    out.push_str(&format!("    store_block(bx, by, blend_block({b}, {}, {k0}, {k1}));\n", qs.join(", ")));
    out
}

/// The source with every directive line replaced by what it stands for.
fn expand(src: &str) -> String {
    let mut out = String::with_capacity(src.len() * 2);
    for line in src.lines() {
        if let Some(a) = args(line, "KERNEL").filter(|a| a.len() == 1) {
            out.push_str(&kernel(a[0]));
        } else if let Some(a) = args(line, "SAMPLE8").filter(|a| a.len() == 2) {
            out.push_str(&sample8(a[0], a[1]));
        } else if let Some(a) = args(line, "BLEND8_ALPHA").filter(|a| a.len() == 2) {
            out.push_str(&blend8(a[0], a[1], None));
        } else if let Some(a) = args(line, "BLEND8").filter(|a| a.len() == 4) {
            out.push_str(&blend8(a[0], a[1], Some((a[2], a[3]))));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives_expand_into_the_shared_code() {
        let k = expand("KERNEL(layer_bar) {\n    SAMPLE8(q, bar_at(l, #));\n    BLEND8_ALPHA(q, b);\n}\n");
        assert!(k.contains("fn layer_bar(@builtin(global_invocation_id) gid: vec3<u32>) {"), "{k}");
        assert!(k.contains("    let by = bxy.y;\n"), "{k}");
        assert!(k.contains("    let q31 = bar_at(l, p + vec2<f32>(3.0, 1.0));\n"), "{k}");
        assert!(k.contains("let k1 = vec4<f32>(q01.w, q11.w, q21.w, q31.w);"), "{k}");
        assert!(k.contains(
            "blend_block(b, q00.xyz, q10.xyz, q20.xyz, q30.xyz, q01.xyz, q11.xyz, q21.xyz, q31.xyz, k0, k1)"
        ));
        let b = expand("    BLEND8(q, b, cover0, cover1);\n");
        assert!(b.contains("blend_block(b, q00, q10, q20, q30, q01, q11, q21, q31, cover0, cover1)"), "{b}");
        assert_eq!(expand("let x = f(a, b);\n"), "let x = f(a, b);\n");
    }

    #[test]
    fn every_module_parses_and_no_directive_is_left() {
        for m in MODULES {
            let src = module_source(m, (8, 8));
            let code: String = src.lines().filter(|l| !l.trim_start().starts_with("//")).collect();
            for word in ["KERNEL(", "SAMPLE8(", "BLEND8", "WG_X", "MAX_TILES"] {
                assert!(!code.contains(word), "{m}: {word} left in the source");
            }
            naga::front::wgsl::parse_str(&src).unwrap_or_else(|e| panic!("{m}: {}", e.emit_to_string(&src)));
        }
    }
}
