//! The semantics API the editor reads (`kdep_sema::scope::resolve_at`): what the name under a
//! `$0` cursor resolves to, from the same resolver the evaluator and `kdep check` use.

mod common;

use common::{load, TestDb};
use kdep_sema::scope::{resolve_at, Resolution};

/// Resolves the name at `$0` in the file holding the marker; returns (name, resolution, path of
/// the file the resolution points into, if any).
fn at(text: &str) -> (String, String) {
    let marked = text.find("$0").expect("fixture needs a $0 cursor");
    let clean = text.replacen("$0", "", 1);
    let fx = load(TestDb::default(), &clean);
    // The cursor's file is the section whose body contains the marker.
    let before = text.get(..marked).unwrap_or_default();
    let header = before.rfind("//- ").expect("cursor inside a section");
    let path = before[header + 4..].lines().next().unwrap_or_default().trim();
    let display = path.replacen(':', "/", 1);
    let file = fx.file(&display);
    let body_start = clean.find(&format!("//- {path}\n")).expect("section header") + path.len() + 5;
    let offset = (marked - body_start) as u32;
    match resolve_at(&fx.db, fx.project, file, offset) {
        Some((name, _, res)) => {
            let detail = match res {
                Resolution::ModuleLet(f) | Resolution::Module(Some(f)) | Resolution::Function(f) => {
                    format!("{res:?}").split('(').next().unwrap_or_default().to_string() + " in " + f.path(&fx.db)
                }
                other => format!("{other:?}"),
            };
            (name.to_string(), detail)
        }
        None => (String::new(), "nothing".to_string()),
    }
}

const BASE: &str = "//- platform:web.kdep
import sizes
let registry = \"r.example.com\"
template Web {
    size: string = \"small\"
    let res = sizes.table[size]
    emit { apiVersion = \"v1\", kind = \"Pod\", metadata.name = \"x\", spec = { r = res, i = registry } }
}
//- platform:sizes.kdep
let table = { small = 1 }
";

#[test]
fn base_names_resolve_where_written_even_when_an_extension_declares_them() {
    let ext = "//- team.kdep
import platform.web
template Mine = web.Web {
    let registry = \"evil\"
    let mine = [registry for registry in [1]]
}
";
    // In the base: the module let and the import alias, not the extension's `let`.
    let src = format!("{}{ext}", BASE.replace("i = registry", "i = reg$0istry"));
    assert_eq!(at(&src), ("registry".into(), "ModuleLet in platform/web.kdep".into()));
    let src = format!("{}{ext}", BASE.replace("sizes.table", "si$0zes.table"));
    assert_eq!(at(&src), ("sizes".into(), "Module in platform/sizes.kdep".into()));
    // Own members and locals in the base.
    let src = format!("{}{ext}", BASE.replace("table[size]", "table[si$0ze]"));
    assert_eq!(at(&src), ("size".into(), "Field".into()));
    let src = format!("{}{ext}", BASE.replace("r = res", "r = r$0es"));
    assert_eq!(at(&src), ("res".into(), "TemplateLet".into()));
    // In the extension: its own `let`, and a comprehension variable shadowing it.
    let src = format!("{BASE}{}", ext.replace("mine = [registry for", "mine = [regi$0stry for"));
    assert_eq!(at(&src), ("registry".into(), "Local".into()));
}

#[test]
fn app_bodies_see_their_module_not_template_members() {
    let src = format!(
        "{BASE}//- app.kdep
import platform.web
let size = \"large\"
app a = web.Web {{ size = si$0ze }}
"
    );
    assert_eq!(at(&src), ("size".into(), "ModuleLet in app.kdep".into()));
    let src = format!("{BASE}//- app.kdep\nimport platform.web\napp a = web.Web {{ size = nope$0 }}\n");
    assert_eq!(at(&src), ("nope".into(), "Unresolved".into()));
}

#[test]
fn function_bodies_see_their_parameters_and_module_not_template_fields() {
    // The parameter shadows the module `let` of the same name.
    let src = "//- lib.kdep\nlet size = 1\nfn f(size: int) -> int = si$0ze + 1\n";
    assert_eq!(at(src), ("size".into(), "Local".into()));
    let src = "//- lib.kdep\nlet base = 1\nfn f(n: int) -> int = ba$0se + n\n";
    assert_eq!(at(src), ("base".into(), "ModuleLet in lib.kdep".into()));
    // Called from a template with a field `size`, the body still cannot see it.
    let src = "//- lib.kdep\ntemplate T {\n    size: int = f(1)\n}\nfn f(n: int) -> int = si$0ze\n";
    assert_eq!(at(src), ("size".into(), "Unresolved".into()));
    // A function named as a value.
    let src = "//- lib.kdep\nfn f(n: int) -> int = n\nlet g = f$0\n";
    assert_eq!(at(src), ("f".into(), "Function in lib.kdep".into()));
}
