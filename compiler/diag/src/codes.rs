//! The registry of diagnostic codes: every code kdep can report, with a stable id and name.
//!
//! Invariant: ids are never reused or renumbered once released; a retired code stays listed.
//! Ranges: K00xx syntax, K01xx packages and modules, K02xx types and values, K03xx template
//! permissions, K04xx evaluation, K05xx build and environment selection, K06xx policies, tests and source edits, K07xx packages from git and OCI.
//! Each code has a long explanation in `compiler/diag/codes/<id>.md` shown by `kdep explain`.

use crate::Severity;

include!(concat!(env!("OUT_DIR"), "/code_docs.rs"));

/// A stable diagnostic code such as `K0301` (`locked-override`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Code {
    /// `K` followed by four digits; what users search for.
    pub id: &'static str,
    /// Kebab-case name, readable in JSON output and configuration.
    pub name: &'static str,
    severity: Severity,
    /// One line describing the class of problem.
    pub summary: &'static str,
}

impl Code {
    pub fn default_severity(self) -> Severity {
        self.severity
    }

    /// The long explanation from `compiler/diag/codes/<id>.md`, if written.
    pub fn docs(self) -> Option<&'static str> {
        DOCS.iter().find(|(id, _)| *id == self.id).map(|(_, text)| *text)
    }

    /// Looks a code up by id (`K0301`) or name (`locked-override`).
    pub fn lookup(key: &str) -> Option<Code> {
        ALL_CODES.iter().copied().find(|c| c.id.eq_ignore_ascii_case(key) || c.name == key)
    }
}

macro_rules! codes {
    ($($konst:ident = $id:literal, $name:literal, $sev:ident, $summary:literal;)*) => {
        impl Code {
            $(
                #[doc = $summary]
                pub const $konst: Code = Code { id: $id, name: $name, severity: Severity::$sev, summary: $summary };
            )*
        }
        /// Every registered code, in id order.
        pub const ALL_CODES: &[Code] = &[$(Code::$konst),*];
    };
}

codes! {
    // Syntax.
    UNEXPECTED_TOKEN = "K0001", "unexpected-token", Error, "the parser found a token it did not expect here";
    UNTERMINATED_STRING = "K0002", "unterminated-string", Error, "a string literal is missing its closing quote";
    INVALID_ESCAPE = "K0003", "invalid-escape", Error, "a string contains an escape sequence kdep does not know";
    NESTING_TOO_DEEP = "K0004", "nesting-too-deep", Error, "brackets or expressions are nested deeper than the compiler allows";
    INVALID_CHARACTER = "K0005", "invalid-character", Error, "a character that cannot start any token";
    UNCLOSED_DELIMITER = "K0006", "unclosed-delimiter", Error, "an opening bracket has no matching closing bracket";
    INVALID_NUMBER = "K0007", "invalid-number", Error, "a numeric literal is malformed or out of range";
    INVALID_REGEX = "K0008", "invalid-regex", Error, "a regular expression in a `string(/.../)` refinement does not compile";
    UNEXPECTED_EOF = "K0009", "unexpected-eof", Error, "the file ended in the middle of a construct";

    // Packages and modules.
    MODULE_NOT_FOUND = "K0101", "module-not-found", Error, "an import names a module that does not exist";
    IMPORT_CYCLE = "K0102", "import-cycle", Error, "modules import each other in a cycle";
    DUPLICATE_DEFINITION = "K0103", "duplicate-definition", Error, "two declarations in one scope have the same name";
    // The name predates "manifest" meaning only an emitted Kubernetes object; names are stable.
    INVALID_PACKAGE_TOML = "K0104", "invalid-manifest", Error, "`kdep.toml` is malformed or incomplete";
    DEPENDENCY_NOT_FOUND = "K0105", "dependency-not-found", Error, "a dependency in `kdep.toml` cannot be found or is not a package";
    UNRESOLVED_NAME = "K0106", "unresolved-name", Error, "a name is not defined in scope";
    NOT_A_TEMPLATE = "K0107", "not-a-template", Error, "something other than a template is instantiated or extended";
    LOCKFILE_OUTDATED = "K0108", "lockfile-outdated", Warning, "`kdep.lock` does not match the resolved dependencies";
    UNUSED_IMPORT = "K0109", "unused-import", Warning, "an import is never used";
    DUPLICATE_MODULE = "K0110", "duplicate-module", Error, "two files of a package have the same module path";

    // Types and values.
    TYPE_MISMATCH = "K0201", "type-mismatch", Error, "a value does not have the type its position requires";
    UNKNOWN_FIELD = "K0202", "unknown-field", Error, "a record, schema or template has no field with this name";
    MISSING_FIELD = "K0203", "missing-field", Error, "a required field is not set";
    OUT_OF_RANGE = "K0204", "out-of-range", Error, "a number lies outside the range its type allows";
    PATTERN_MISMATCH = "K0205", "pattern-mismatch", Error, "a string does not match the pattern its type requires";
    NOT_ALLOWED_VALUE = "K0206", "not-allowed-value", Error, "a value is not one of the preselected values its type allows";
    LENGTH_MISMATCH = "K0207", "length-mismatch", Error, "a string, list or map is shorter or longer than its type allows";
    INVALID_QUANTITY = "K0208", "invalid-quantity", Error, "a string is not a valid Kubernetes quantity";
    INVALID_DURATION = "K0209", "invalid-duration", Error, "a string is not a valid duration";
    CHECK_FAILED = "K0210", "check-failed", Error, "a `check` constraint evaluated to false";
    UNKNOWN_TYPE = "K0211", "unknown-type", Error, "a type name is not defined";
    DUPLICATE_KEY = "K0212", "duplicate-key", Error, "an object literal sets the same key twice";
    INVALID_OPERAND = "K0213", "invalid-operand", Error, "an operator is applied to values it does not support";
    WRONG_ARGUMENTS = "K0214", "wrong-arguments", Error, "a function is called with the wrong number or kinds of arguments";
    UNKNOWN_FUNCTION = "K0215", "unknown-function", Error, "a call names a function that does not exist";
    EMIT_IN_SCHEMA = "K0216", "emit-in-schema", Error, "a schema declares an `emit`; only templates emit objects";
    DUPLICATE_LIST_KEY = "K0220", "duplicate-list-key", Error, "two items of a `key(...)` list have the same key, or two items of a `unique` list are equal";
    UNKNOWN_ATTRIBUTE = "K0221", "unknown-attribute", Error, "a declaration carries an attribute kdep does not know";
    INVALID_ATTRIBUTE = "K0222", "invalid-attribute", Error, "an attribute's arguments are missing, unknown or of the wrong kind, or it is placed where it does not apply";

    // Template permissions.
    LOCKED_OVERRIDE = "K0301", "locked-override", Error, "an instance or extending template sets a field its template locked";
    WIDENED_RANGE = "K0302", "widened-range", Error, "an extending template widens a range instead of narrowing it";
    WIDENED_CHOICES = "K0303", "widened-choices", Error, "an extending template adds values to a set of preselected values";
    CHANGED_TYPE = "K0304", "changed-type", Error, "an extending template changes a field's type to one that is not a narrowing";
    WIDENED_PATTERN = "K0305", "widened-pattern", Error, "an extending template replaces a field's pattern instead of adding a check";
    UNKNOWN_ENVIRONMENT = "K0306", "unknown-environment", Error, "an `in` block names an environment that is not declared";
    DUPLICATE_OVERRIDE = "K0307", "duplicate-override", Error, "the same field is set twice in one instance or `in` block";
    LOCKED_WITHOUT_VALUE = "K0308", "locked-without-value", Error, "a `locked` field has no value";
    INVALID_DEFAULT = "K0309", "invalid-default", Error, "a default violates the field's own type or the narrowed constraint";
    NOT_OVERRIDABLE = "K0310", "not-overridable", Error, "an instance sets a template's `let` binding, which is not a field";
    PROBABLE_TYPO_FIELD = "K0311", "probable-typo-field", Warning, "an extending template adds a field whose name is one edit away from a base field";
    SHADOWS_BASE_NAME = "K0312", "shadows-base-name", Error, "an extending template declares a name that a base template reads from its module";
    FOREIGN_NAMESPACE = "K0313", "foreign-namespace", Error, "a template emits a namespaced object into a namespace other than the environment's";
    FORBIDDEN_KIND = "K0314", "forbidden-kind", Error, "a package emits a kind of object that a platform package it depends on forbids";
    CONFLICTING_COMPOSITION = "K0315", "conflicting-composition", Error, "two declarations a template composes declare the same member differently";
    DROPPED_LIST_KEY = "K0316", "dropped-list-key", Error, "an extending declaration drops or weakens a list's `key(...)` or `unique` constraint";
    OPENED_SCHEMA = "K0317", "opened-schema", Error, "an extending declaration marks `@open` a schema its base or mixin keeps closed";

    // Evaluation.
    MISSING_KEY = "K0401", "missing-key", Error, "a map has no entry for the key being read";
    DIVISION_BY_ZERO = "K0402", "division-by-zero", Error, "a division or remainder by zero";
    INDEX_OUT_OF_BOUNDS = "K0403", "index-out-of-bounds", Error, "a list index is outside the list";
    EVALUATION_LIMIT = "K0404", "evaluation-limit", Error, "evaluation exceeded the depth or size limit";
    BUILTIN_FAILED = "K0405", "builtin-failed", Error, "a builtin function rejected its input";
    INVALID_EMIT = "K0406", "invalid-emit", Error, "an emitted value is not an object with `apiVersion`, `kind` and `metadata.name`";
    DUPLICATE_OBJECT = "K0407", "duplicate-object", Error, "two emitted objects have the same kind, namespace and name";
    CYCLIC_DEFINITION = "K0408", "cyclic-definition", Error, "a value depends on itself";
    INTEGER_OVERFLOW = "K0409", "integer-overflow", Error, "integer arithmetic overflowed";
    EXTENSION_TOO_DEEP = "K0410", "extension-too-deep", Error, "a template extends a longer chain of templates than the compiler allows";

    // Build and environment selection.
    ENVIRONMENT_NOT_FOUND = "K0501", "environment-not-found", Error, "`--env` names an environment that is not declared";
    NO_APPS = "K0502", "no-apps", Warning, "the package declares no `app`, so nothing is emitted";
    FILE_TOO_LARGE = "K0503", "file-too-large", Error, "a source file is larger than the compiler accepts";
    INVALID_UTF8 = "K0504", "invalid-utf8", Error, "a source file is not valid UTF-8";
    DUPLICATE_ENVIRONMENT = "K0505", "duplicate-environment", Error, "an environment is declared twice";
    NO_ENVIRONMENT = "K0506", "no-environment", Error, "a template or app reads `env` but no environment is selected";

    // Policies and waivers (`policy`, `waive`).
    POLICY_VIOLATION = "K0601", "policy-violation", Error, "an emitted object violates an active policy";
    INVALID_POLICY = "K0602", "invalid-policy", Error, "a policy declaration is malformed";
    INVALID_WAIVER = "K0603", "invalid-waiver", Error, "a waiver names no policy or gives no reason";
    WAIVER_FORBIDDEN = "K0604", "waiver-forbidden", Error, "a waiver of a policy that cannot be waived";
    TEMPLATE_PERMITS_VIOLATION = "K0605", "template-permits-violation", Warning, "a template permits instances that violate an active policy";
    POLICY_UNKNOWN_FIELD = "K0606", "policy-unknown-field", Error, "a policy's `at` selector names a field that no kind it applies to has";
    POLICY_UNKNOWN_KIND = "K0607", "policy-unknown-kind", Error, "a policy's `kinds` names a kind that no schema declares";

    // Source edits (`kdep set image`).
    UNKNOWN_APP = "K0670", "unknown-app", Error, "a command names an app the package does not declare (or declares twice)";
    IMAGE_COMPUTED = "K0671", "image-computed", Error, "`kdep set image` cannot replace an image that is computed rather than written as a string";
    IMAGE_NOT_SETTABLE = "K0672", "image-not-settable", Error, "`kdep set image` would make the package fail `kdep check` (a locked or unknown field, a reference the type rejects)";

    // Apply order of apps (`@after`).
    INVALID_APPLY_ORDER = "K0680", "invalid-apply-order", Error, "an `@after` attribute is malformed: no app named, an unknown argument, a value that is not an app name, an app named twice, given twice, or placed on something other than an app";
    UNKNOWN_ORDER_APP = "K0681", "unknown-order-app", Error, "`@after` names an app the package does not declare (or an app of a dependency package, which is never applied)";
    APP_AFTER_ITSELF = "K0682", "app-after-itself", Error, "an app is declared to be applied after itself";
    APPLY_ORDER_CYCLE = "K0683", "apply-order-cycle", Error, "the `@after` declarations of apps form a cycle, so no app of it could be applied first";

    // Packages from git and OCI registries (K07xx).
    DEPENDENCY_NOT_FETCHED = "K0701", "dependency-not-fetched", Error, "a git or OCI dependency is not in kdep.lock or not in the cache";
    CHECKSUM_MISMATCH = "K0702", "checksum-mismatch", Error, "a dependency's sources do not match the checksum kdep.lock records";
    DEPENDENCY_RESOLUTION_FAILED = "K0703", "dependency-resolution-failed", Error, "a git or OCI dependency cannot be resolved or fetched";
    PATH_DEPENDENCY_IN_REMOTE_PACKAGE = "K0704", "path-dependency-in-remote-package", Error, "a package fetched from git or OCI depends on a local path";

    // Tests (`test` blocks, `kdep test`).
    TEST_FAILED = "K0630", "test-failed", Error, "an assertion of a `test` is false, or an `expect_error` block compiled";
    TEST_ERROR = "K0631", "test-error", Error, "a `test` could not run to its end: an error in its expressions, or an assertion that is not a bool";
    UNKNOWN_EXPECTED_CODE = "K0632", "unknown-expected-code", Error, "`expect_error` names a diagnostic code that does not exist";
    DUPLICATE_TEST = "K0633", "duplicate-test", Error, "two tests of a package have the same name, or a test name is not plain text";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_names_are_unique_and_well_formed() {
        let mut ids: Vec<_> = ALL_CODES.iter().map(|c| c.id).collect();
        let mut names: Vec<_> = ALL_CODES.iter().map(|c| c.name).collect();
        ids.sort_unstable();
        names.sort_unstable();
        let n = ALL_CODES.len();
        ids.dedup();
        names.dedup();
        assert_eq!(ids.len(), n, "duplicate code id");
        assert_eq!(names.len(), n, "duplicate code name");
        for c in ALL_CODES {
            assert!(c.id.len() == 5 && c.id.starts_with('K'), "{}", c.id);
            assert!(c.name.chars().all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-'), "{}", c.name);
        }
    }

    #[test]
    fn lookup_by_id_and_name() {
        assert_eq!(Code::lookup("K0301"), Some(Code::LOCKED_OVERRIDE));
        assert_eq!(Code::lookup("locked-override"), Some(Code::LOCKED_OVERRIDE));
        assert_eq!(Code::lookup("nope"), None);
    }
}
