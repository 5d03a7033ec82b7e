//! The API, declared once: every command's name, what it takes and what it answers.
//!
//! [`for_each_command!`] hands this list to a macro of the caller's, which generates from
//! it. Nothing else lists the commands:
//! - [`Api::call`]: one dispatch by name (below), behind the HTTP route `POST /api/<name>`;
//! - the typed client's methods (`server::client::Client`), used by the CLI, tests and
//!   benches;
//! - the Tauri shell's commands of the same names, its `build.rs` list and its capability
//!   file (checked by a test in `src-tauri`);
//! - the TypeScript command map `ui/src/api/commands.ts` ([`typescript_commands`], checked by
//!   a test), which the UI's transports call through one generic `call`.
//!
//! Adding a command: a line here, its method on [`Api`] (same name, taking the request type,
//! answering `Result<Response, ApiError>`), and its use in the UI. `make types` rewrites the
//! generated files.
//!
//! The types are named bare: a caller brings `crate::api::dto::*` into scope. The list itself
//! is in `command_list.rs`, which `src-tauri/build.rs` also includes (for the names).

use super::dto::*;
use super::{Api, ApiError};

/// One declared command, as the generators see it.
#[derive(Debug, Clone, Copy)]
pub struct CommandInfo {
    pub name: &'static str,
    /// The TypeScript name of the request type; `None` when the command takes nothing.
    pub request: Option<fn() -> String>,
    /// The TypeScript name of the response type (`null` for `()`).
    pub response: fn() -> String,
}

fn decode<T: serde::de::DeserializeOwned>(
    name: &str,
    request: serde_json::Value,
) -> Result<T, ApiError> {
    serde_json::from_value(request)
        .map_err(|e| ApiError::bad_request(format!("bad request for {name}: {e}")))
}

/// A command that takes nothing accepts no body, `null` or `{}`.
fn expect_nothing(name: &str, request: &serde_json::Value) -> Result<(), ApiError> {
    match request {
        serde_json::Value::Null => Ok(()),
        serde_json::Value::Object(o) if o.is_empty() => Ok(()),
        _ => Err(ApiError::bad_request(format!("{name} takes no request"))),
    }
}

fn encode<T: serde::Serialize>(answer: T) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(answer).map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))
}

macro_rules! generate {
    ($( $(#[$doc:meta])* $name:ident ( $($req:ty)? ) -> $res:ty ; )*) => {
        impl Api {
            /// Runs the command `name` on its JSON request and answers JSON: the one dispatch
            /// by name that the HTTP server (and any transport of JSON) goes through.
            pub async fn call(
                &self,
                name: &str,
                request: serde_json::Value,
            ) -> Result<serde_json::Value, ApiError> {
                let api = self;
                match name {
                    $( stringify!($name) => encode(generate!(@run api, $name, name, request, $($req)?)?), )*
                    _ => Err(ApiError::new(
                        ErrorCode::NotFound,
                        format!("no such API command: {name:?}"),
                    )),
                }
            }
        }

        /// Every command, in declaration order.
        pub const COMMANDS: &[CommandInfo] = &[
            $( CommandInfo {
                name: stringify!($name),
                request: generate!(@ts $($req)?),
                response: <$res as ts_rs::TS>::name,
            }, )*
        ];
    };
    (@run $api:ident, $method:ident, $name:ident, $request:ident, $req:ty) => {
        $api.$method(decode::<$req>($name, $request)?).await
    };
    (@run $api:ident, $method:ident, $name:ident, $request:ident,) => {{
        expect_nothing($name, &$request)?;
        $api.$method().await
    }};
    (@ts $req:ty) => { Some(<$req as ts_rs::TS>::name) };
    (@ts) => { None };
}

crate::for_each_command!(generate);

/// The names of every command, in declaration order.
pub fn command_names() -> impl Iterator<Item = &'static str> {
    COMMANDS.iter().map(|c| c.name)
}

/// `ui/src/api/commands.ts`: the TypeScript command map the UI's `call` is typed by.
pub fn typescript_commands() -> String {
    let mut used = std::collections::BTreeSet::new();
    let mut lines = String::new();
    for c in COMMANDS {
        let req = c.request.map_or_else(|| "null".to_owned(), |f| f());
        let res = (c.response)();
        for ty in [&req, &res] {
            used.extend(
                ty.split(|ch: char| !ch.is_ascii_alphanumeric())
                    .filter(|w| w.starts_with(|ch: char| ch.is_ascii_uppercase()) && *w != "Array")
                    .map(str::to_owned),
            );
        }
        lines.push_str(&format!("  {}: {{ req: {req}; res: {res} }};\n", c.name));
    }
    let names: Vec<String> = command_names().map(|n| format!("'{n}'")).collect();
    format!(
        "// Generated from the API declaration (src/api/commands.rs) by `make types`. Do not edit.\n\
         import type {{ {} }} from './types';\n\n\
         /** Every API command: what it takes (`null`: nothing) and what it answers. */\n\
         export interface Commands {{\n{lines}}}\n\n\
         export type CommandName = keyof Commands;\n\n\
         /** Every command name, in declaration order. */\n\
         export const COMMAND_NAMES: readonly CommandName[] = [{}];\n",
        used.into_iter().collect::<Vec<_>>().join(", "),
        names.join(", "),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fails when the UI's command map drifts from the declaration. `make types`
    /// (HEARTH_UPDATE_TYPES=1) rewrites it.
    #[test]
    fn typescript_commands_are_up_to_date() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ui/src/api/commands.ts");
        let expected = typescript_commands();
        if std::env::var_os("HEARTH_UPDATE_TYPES").is_some() {
            std::fs::write(&path, &expected).unwrap();
        }
        let actual = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            actual == expected,
            "ui/src/api/commands.ts is out of date with src/api/commands.rs: run `make types`"
        );
    }

    #[test]
    fn command_names_are_unique_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for name in command_names() {
            assert!(seen.insert(name), "{name} is declared twice");
            assert!(
                name.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{name} is not snake_case"
            );
        }
    }
}
